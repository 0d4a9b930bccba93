"""PyTorch backend (CPU or CUDA): the reference numerics every other backend is compared with."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hit_core.errors import BackendError, ConfigError
from hit_core.tracking.backends import (
    SCORE_MAP_SIZE,
    SEARCH_SIZE,
    TEMPLATE_SIZE,
    Backend,
    NetworkOutput,
    check_crop,
    normalize_crop,
    warn_untrained,
)

if TYPE_CHECKING:
    import torch


def is_available() -> tuple[bool, str]:
    """Whether PyTorch is installed (the CUDA check happens when a CUDA device is asked for)."""
    if importlib.util.find_spec("torch") is None:
        return False, "PyTorch is not installed (pip install 'hit-ros[torch]')"
    return True, ""


class TorchBackend(Backend):
    """The network in eager PyTorch, float32, backbone BatchNorms fused as in the official tracker.

    ``checkpoint`` None means the bundled demo weights of the variant; without them the
    network is untrained (random weights) and a warning says so.
    ``threads`` sets PyTorch's intra-op thread count for the whole process
    (``torch.set_num_threads``). ``engine_cache_dir`` is not used by this backend.
    Only ``precision="fp32"`` is supported.
    """

    name = "torch"

    def __init__(
        self,
        *,
        variant: str,
        checkpoint: str | Path | None,
        device: str = "cpu",
        threads: int | None = None,
        engine_cache_dir: str | Path | None = None,
        precision: str = "fp32",
    ) -> None:
        import torch

        from hit_core.models import create_model, resolve_checkpoint

        if precision != "fp32":
            raise ConfigError(
                f"the torch backend runs fp32 only, got precision {precision!r}; "
                f"use the onnxruntime or tensorrt backend for {precision}"
            )
        try:
            self._device = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ConfigError(f"invalid torch device {device!r}: use 'cpu', 'cuda' or 'cuda:N'") from error
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU here; use device='cpu'")
        if threads is not None:
            torch.set_num_threads(threads)
        weights = resolve_checkpoint(checkpoint, variant)
        if weights is None:
            warn_untrained(variant)
        model = create_model(variant, weights, device=self._device, fuse=True)
        self._model = model.eval()
        self.variant = model.variant
        self._torch = torch
        self._template: torch.Tensor | None = None

    def _tensor(self, crop: np.ndarray) -> torch.Tensor:
        return self._torch.from_numpy(normalize_crop(crop)).to(self._device)

    def set_template(self, template: np.ndarray) -> None:
        if self._model is None:
            raise BackendError("the torch backend is closed; create a new one")
        self._template = self._tensor(check_crop(template, TEMPLATE_SIZE, "template"))

    def infer(self, search: np.ndarray) -> NetworkOutput:
        if self._model is None:
            raise BackendError("the torch backend is closed; create a new one")
        if self._template is None:
            raise ConfigError("infer() called before set_template(); give the backend a template crop first")
        search_tensor = self._tensor(check_crop(search, SEARCH_SIZE, "search"))
        try:
            with self._torch.inference_mode():
                outputs = self._model(search_tensor, self._template)
        except RuntimeError as error:
            raise BackendError(f"PyTorch inference failed on {self._device}: {error}") from error
        side = SCORE_MAP_SIZE
        return NetworkOutput(
            box=outputs["pred_boxes"].reshape(4).float().cpu().numpy(),
            score_tl=outputs["score_tl"].reshape(side, side).float().cpu().numpy(),
            score_br=outputs["score_br"].reshape(side, side).float().cpu().numpy(),
        )

    def close(self) -> None:
        self._template = None
        self._model = None
