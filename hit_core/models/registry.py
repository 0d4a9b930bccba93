"""The HiT variants and ``create_model``, the one way to build a network.

This module imports torch only inside ``create_model``, so the variant names are available to code that
runs without torch (e.g. an ONNX Runtime tracker on a robot).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hit_core.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from hit_core.models.hit import HiT
    from hit_core.models.levit import BackboneSpec


@dataclass(frozen=True)
class VariantSpec:
    """One released HiT configuration (spec section 0)."""

    name: str
    display_name: str
    levit_name: str
    imagenet_weights: str
    embed_dims: tuple[int, int, int]
    depths: tuple[int, int, int]
    num_heads: tuple[int, int, int]
    key_dim: int
    drop_path: float

    @property
    def backbone(self) -> "BackboneSpec":
        from hit_core.models.levit import BackboneSpec

        return BackboneSpec(self.embed_dims, self.depths, self.num_heads, self.key_dim, self.drop_path)


VARIANTS: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec("tiny", "HiT-Tiny", "LeViT_128S", "LeViT-128S-96703c44.pth",
                    (128, 256, 384), (2, 3, 4), (4, 6, 8), 16, 0.0),
        VariantSpec("small", "HiT-Small", "LeViT_128", "LeViT-128-b88c2750.pth",
                    (128, 256, 384), (4, 4, 4), (4, 8, 12), 16, 0.0),
        VariantSpec("base", "HiT-Base", "LeViT_384", "LeViT-384-9bdaf2e2.pth",
                    (384, 512, 768), (4, 4, 4), (6, 9, 12), 32, 0.1),
    )
}


def list_variants() -> list[str]:
    """Canonical variant names, smallest first: ``["tiny", "small", "base"]``."""
    return list(VARIANTS)


def canonical_variant(variant: str) -> str:
    """Map a user spelling ("tiny", "HiT-Tiny", "hit_tiny", "HIT TINY") to its canonical name.

    Raises ConfigError naming the valid variants (and the closest one) for anything else.
    """
    if not isinstance(variant, str):
        raise ConfigError(f"variant must be a string such as 'tiny', got {type(variant).__name__}")
    key = re.sub(r"[\s_\-]+", "", variant.strip().lower())
    key = key[3:] if key.startswith("hit") and key != "hit" else key
    if key in VARIANTS:
        return key
    close = difflib.get_close_matches(key, list(VARIANTS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown HiT variant {variant!r}{hint}; choose one of {', '.join(VARIANTS)}")


def get_variant(variant: str) -> VariantSpec:
    """The ``VariantSpec`` of a variant name in any accepted spelling."""
    return VARIANTS[canonical_variant(variant)]


def create_model(variant: str, checkpoint: str | Path | None = None, device: "str | torch.device" = "cpu",
                 fuse: bool = False) -> "HiT":
    """Build a HiT network.

    ``variant``: "tiny", "small" or "base" (aliases such as "hit_tiny", "HiT-Tiny" accepted).
    ``checkpoint``: a file in any format ``checkpoint.load_state_dict`` reads; it is loaded strictly and the
    model is returned in eval mode. Without one the network is freshly initialised and in train mode.
    ``device``: any torch device ("cpu", "cuda", "cuda:1", ...). ``fuse``: fold the backbone BNs
    (inference form, implies eval mode; see ``HiT.fuse``).
    Raises ConfigError for a bad variant or device, CheckpointError for an unreadable or mismatching file.
    """
    import torch

    from hit_core.models.checkpoint import load_into
    from hit_core.models.hit import HiT

    spec = get_variant(variant)
    target = _device(device)
    model = HiT(spec)
    if checkpoint is not None:
        load_into(model, checkpoint)
        model.eval()
    if fuse:
        model.fuse()
    return model.to(target)


def _device(device: "str | torch.device") -> "torch.device":
    import torch

    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"invalid device {device!r} ({error}); use 'cpu', 'cuda' or 'cuda:N'") from error
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but this PyTorch has no usable CUDA; use device='cpu'")
    if target.type == "cuda" and target.index is not None and target.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
    return target
