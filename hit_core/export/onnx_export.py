"""PyTorch HiT -> ONNX, with a check against PyTorch on real crops.

:func:`export_network_graph` exports the network graph and :func:`export_onnx` writes the
official-compatible file after checking it (both forms: :mod:`hit_core.export.onnx_format`).
The confidence output ``score`` is the tracker's formula (:mod:`hit_core.tracking.confidence`)
in torch ops (:func:`corner_confidence_torch`), so it lives inside the graph.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hit_core.errors import ExportError
from hit_core.export.crops import CropPair
from hit_core.export.onnx_format import (
    MAP_SIDE,
    NETWORK_OUTPUTS,
    OFFICIAL_OUTPUTS,
    ONNX_FORMAT,
    official_graph,
    set_metadata,
)

LOGGER = logging.getLogger("hit_core.export")

DEFAULT_OPSET = 17
SEARCH_SHAPE = (1, 3, 256, 256)
TEMPLATE_SHAPE = (1, 3, 128, 128)

# Tolerances of the PyTorch check, float32 (fixtures README section 7 gives the float32
# noise of this network: box <= 2e-6, score maps <= 7e-5 for the worst variant).
BOX_TOLERANCE = 2e-5
SCORE_TOLERANCE = 1e-4



def _corner_support_torch(score_map: torch.Tensor) -> torch.Tensor:
    batch = score_map.shape[0]
    probabilities = score_map.reshape(batch, MAP_SIDE * MAP_SIDE).softmax(dim=1).reshape(batch, MAP_SIDE, MAP_SIDE)
    cells = torch.arange(MAP_SIDE, dtype=probabilities.dtype, device=probabilities.device)
    row = torch.round((probabilities.sum(dim=2) * cells).sum(dim=1, keepdim=True))
    col = torch.round((probabilities.sum(dim=1) * cells).sum(dim=1, keepdim=True))
    row_window = ((cells - row).abs() <= 1).to(probabilities.dtype)
    col_window = ((cells - col).abs() <= 1).to(probabilities.dtype)
    return ((probabilities * row_window.unsqueeze(2)).sum(dim=1) * col_window).sum(dim=1)


def corner_confidence_torch(score_tl: torch.Tensor, score_br: torch.Tensor) -> torch.Tensor:
    """(B,) confidence from raw corner maps (B, 1, 16, 16): the formula of
    :func:`hit_core.tracking.confidence.corner_confidence` in torch ops (float32), so it
    can live inside the exported graph. Tested equal to the numpy version.
    """
    support = _corner_support_torch(score_tl) * _corner_support_torch(score_br)
    return support.sqrt().clamp(max=1.0)


def inference_form(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` fused, in eval mode, on the CPU: itself if it already is, else a fused copy (weights untouched)."""
    if getattr(model, "fused", False) and not model.training:
        return model.to("cpu")
    return copy.deepcopy(model).to("cpu").fuse()


class _NetworkGraph(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, search: torch.Tensor, template: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(search, template)
        score_tl, score_br = outputs["score_tl"], outputs["score_br"]
        box = outputs["pred_boxes"].reshape(1, 4)
        return box, corner_confidence_torch(score_tl, score_br), score_tl, score_br


def export_network_graph(model: torch.nn.Module, *, opset: int = DEFAULT_OPSET, checkpoint_sha256: str = ""):
    """Export ``model`` (a HiT from :func:`hit_core.models.create_model`) as the network graph.

    The model is fused (inference form) and run on CPU in eval mode. Returns an
    ``onnx.ModelProto`` with inputs ``search``, ``template`` and outputs ``box``,
    ``score``, ``score_tl``, ``score_br``, and metadata ``hit_ros.*``.
    """
    import onnx

    variant = getattr(model, "variant", None)
    if not variant:
        raise ExportError("export needs a HiT model from hit_core.models.create_model (it has no .variant)")
    wrapper = _NetworkGraph(inference_form(model)).eval()
    search = torch.zeros(SEARCH_SHAPE, dtype=torch.float32)
    template = torch.zeros(TEMPLATE_SHAPE, dtype=torch.float32)
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about the model's input-shape checks (shapes are fixed here) and torch
            # about the TorchScript exporter, which is the one that supports every opset used here.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (search, template),
                buffer,
                input_names=["search", "template"],
                output_names=list(NETWORK_OUTPUTS),
                opset_version=opset,
                do_constant_folding=True,
                export_params=True,
                dynamo=False,
            )
    except Exception as error:  # the exporter raises many unrelated types; report them as one
        raise ExportError(f"torch.onnx.export failed for HiT-{variant}: {error}") from error
    graph = onnx.load_from_string(buffer.getvalue())
    set_metadata(
        graph,
        {
            "hit_ros.format": ONNX_FORMAT,
            "hit_ros.variant": str(variant),
            "hit_ros.checkpoint_sha256": checkpoint_sha256,
            "hit_ros.score_tl": "score_tl",
            "hit_ros.score_br": "score_br",
        },
    )
    onnx.checker.check_model(graph)
    return graph


def load_model_for_export(variant: str, checkpoint: str | Path | None) -> tuple[torch.nn.Module, str]:
    """Build ``variant`` with ``checkpoint`` (or the bundled demo weights) on CPU.

    Returns ``(model, checkpoint_sha256)``; without any weights the network is untrained:
    it is seeded (so repeated exports are identical), a loud warning is logged and the
    sha256 is ``"untrained"``.
    """
    from hit_core.export.files import sha256_file
    from hit_core.models import create_model
    from hit_core.models.checkpoint import resolve_checkpoint

    path = resolve_checkpoint(checkpoint, variant)
    if path is None:
        LOGGER.warning(
            "no checkpoint for HiT-%s and no bundled demo weights: exporting an UNTRAINED network (random "
            "weights, seed 0); its boxes are meaningless. Pass --checkpoint with real HiT weights.",
            variant,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = create_model(variant)
        return model.eval(), "untrained"
    return create_model(variant, checkpoint=path), sha256_file(path)


@dataclass(frozen=True)
class ParityReport:
    """How far an ONNX graph's outputs are from PyTorch on real crops (max absolute differences)."""

    pairs: int
    box_max_abs: float
    score_max_abs: float
    worst_source: str

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.pairs} real crop pairs: max |box - PyTorch| = {self.box_max_abs:.2e} "
            f"(tolerance {BOX_TOLERANCE:.0e}), max |score - PyTorch| = {self.score_max_abs:.2e} "
            f"(tolerance {SCORE_TOLERANCE:.0e}); worst pair {self.worst_source}"
        )


def check_against_torch(
    graph_bytes: bytes,
    model: torch.nn.Module,
    pairs: Sequence[CropPair],
    *,
    box_tolerance: float = BOX_TOLERANCE,
    score_tolerance: float = SCORE_TOLERANCE,
) -> ParityReport:
    """Run the official-compatible (or network) graph with ONNX Runtime and PyTorch on ``pairs``.

    Raises ExportError when any box coordinate or score differs by more than its
    tolerance (the message names the worst pair and the numbers).
    """
    import onnxruntime as ort

    from hit_core.tracking.backends import normalize_crop

    if not pairs:
        raise ExportError("no crop pairs to check the export with")
    session = ort.InferenceSession(graph_bytes, providers=["CPUExecutionProvider"])
    model = inference_form(model)
    box_error = score_error = 0.0
    worst = ("", -1.0)
    with torch.no_grad():
        for pair in pairs:
            search = normalize_crop(pair.search)
            template = normalize_crop(pair.template)
            box, score = session.run(list(OFFICIAL_OUTPUTS), {"search": search, "template": template})
            reference = model(torch.from_numpy(search), torch.from_numpy(template))
            torch_box = reference["pred_boxes"].reshape(1, 4).numpy()
            torch_score = corner_confidence_torch(reference["score_tl"], reference["score_br"]).numpy()
            pair_box = float(np.max(np.abs(box - torch_box)))
            pair_score = float(np.max(np.abs(score - torch_score)))
            if not (np.isfinite(pair_box) and np.isfinite(pair_score)):
                raise ExportError(f"the exported graph produced non-finite outputs on {pair.source}")
            box_error, score_error = max(box_error, pair_box), max(score_error, pair_score)
            if pair_box / box_tolerance > worst[1]:
                worst = (pair.source, pair_box / box_tolerance)
    report = ParityReport(len(pairs), box_error, score_error, worst[0])
    if box_error > box_tolerance or score_error > score_tolerance:
        raise ExportError(f"the ONNX graph does not match PyTorch: {report.summary()}")
    return report


def export_onnx(
    variant: str,
    checkpoint: str | Path | None,
    output: str | Path,
    *,
    check_sources: Sequence[str | Path] | None = None,
    pairs_per_source: int = 4,
    opset: int = DEFAULT_OPSET,
) -> ParityReport:
    """Write the official-compatible ONNX for ``variant``/``checkpoint`` to ``output`` and check it.

    The check runs ONNX Runtime and PyTorch on real crops from ``check_sources``
    (sequence folders or image folders; default: the bundled demo sequence) and raises
    ExportError beyond tolerance; nothing is written then. The file is written atomically.
    """
    from hit_core.export.crops import default_image_sources, real_crop_pairs
    from hit_core.export.files import atomic_write_bytes

    output = Path(output).expanduser()
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"the output file must end in .onnx, got {output}")
    if not output.parent.is_dir():
        raise ExportError(f"the output folder {output.parent} does not exist; create it first")
    sources = list(check_sources) if check_sources else default_image_sources()
    pairs = real_crop_pairs(sources, pairs_per_source)
    model, checkpoint_sha256 = load_model_for_export(variant, checkpoint)
    model = inference_form(model)
    graph_bytes = official_graph(
        export_network_graph(model, opset=opset, checkpoint_sha256=checkpoint_sha256)
    ).SerializeToString()
    report = check_against_torch(graph_bytes, model, pairs)
    atomic_write_bytes(output, graph_bytes)
    LOGGER.info("wrote %s (%.1f MiB); %s", output, len(graph_bytes) / 2**20, report.summary())
    return report
