"""INT8 search graph for CPUs: ONNX Runtime static quantisation calibrated on real crops.

Only layers with constant weights are quantised (every Conv except the first one on the
RGB image, and every MatMul/Gemm whose second operand is a weight): weights per output channel as signed int8, activations as
unsigned int8 with ranges from min/max calibration over real (search crop, template
tokens) pairs. The attention products (query x key, attention x value), the softmaxes,
the soft-argmax and everything else stay float32, which keeps the corner maps smooth.
The format is QDQ (Quantize/Dequantize pairs that ONNX Runtime fuses into integer
kernels), which is both the faster and the portable choice here.

How far the INT8 boxes move from FP32 depends on the weights; measure it on your own
footage with ``hit export --int8`` (docs/export.md has the figures for the shared
sequences).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hit_core.errors import ExportError
from hit_core.export.crops import CropPair

WEIGHTED_OPS = ("Conv", "MatMul", "Gemm")


# A conv reading fewer channels than this (the first conv, on the RGB image) runs slower in int8 than in
# float32 here (measured: ~1 ms of a 13 ms Tiny frame), so it stays float32.
MIN_QUANTIZED_INPUT_CHANNELS = 16


def weighted_nodes(model) -> list[str]:
    """Names of the nodes worth quantising: Conv/MatMul/Gemm by a constant weight, except thin-input convs."""
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    selected = []
    for node in model.graph.node:
        if node.op_type not in WEIGHTED_OPS or len(node.input) < 2 or node.input[1] not in weights:
            continue
        if node.op_type == "Conv" and weights[node.input[1]][1] < MIN_QUANTIZED_INPUT_CHANNELS:
            continue
        selected.append(node.name)
    return selected


class _DropPreprocessingAdvice(logging.Filter):
    """The quantiser advises (on the root logger) to run its shape pre-processing first; the search
    graph is already shape-inferred and that pass made no difference here, so the advice is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


class _CropReader:
    """Feeds (search crop, template tokens) pairs to the calibrator, one per call."""

    def __init__(self, template_path: Path, pairs: Sequence[CropPair]) -> None:
        import onnxruntime as ort

        session = ort.InferenceSession(str(template_path), providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        self._feeds = []
        for pair in pairs:
            tokens = session.run(None, {"template": pair.template[None]})
            self._feeds.append({"search": pair.search[None], **dict(zip(names, tokens))})
        self._position = 0

    def get_next(self) -> dict | None:
        if self._position >= len(self._feeds):
            return None
        self._position += 1
        return self._feeds[self._position - 1]

    def rewind(self) -> None:
        self._position = 0


def quantize_search_graph(template_path: str | Path, search_path: str | Path, pairs: Sequence[CropPair]) -> bytes:
    """Quantise the FP32 search graph at ``search_path`` (calibrated on ``pairs``); returns the INT8 graph bytes."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    if len(pairs) < 2:
        raise ExportError(f"INT8 calibration needs at least 2 real crop pairs, got {len(pairs)}")

    class Reader(_CropReader, CalibrationDataReader):
        pass

    reader = Reader(Path(template_path), pairs)
    model = onnx.load(str(search_path))
    advice = _DropPreprocessingAdvice()
    logging.getLogger().addFilter(advice)
    with tempfile.TemporaryDirectory(prefix="hit_int8_") as scratch:
        output = Path(scratch) / "search_int8.onnx"
        try:
            quantize_static(
                str(search_path),
                str(output),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_quantize=weighted_nodes(model),
                calibrate_method=CalibrationMethod.MinMax,
            )
        except Exception as error:  # the quantiser raises many unrelated types; report them as one
            raise ExportError(f"INT8 quantisation failed: {error}") from error
        finally:
            logging.getLogger().removeFilter(advice)
        return output.read_bytes()


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-12)


@dataclass(frozen=True)
class PrecisionDeviation:
    """INT8 vs FP32 tracking of one sequence: both trackers run on their own from the same first box.

    ``centre_px_*``: distance between the two boxes' centres (image pixels) per frame;
    ``iou_mean``: mean IoU between the two boxes (areas as x, y, w, h rectangles).
    """

    sequence: str
    frames: int
    centre_px_median: float
    centre_px_mean: float
    centre_px_max: float
    iou_mean: float

    def row(self) -> str:
        return (
            f"{self.sequence:32} {self.frames:6d} {self.centre_px_median:8.2f} {self.centre_px_mean:8.2f} "
            f"{self.centre_px_max:8.2f} {self.iou_mean:8.3f}"
        )


DEVIATION_HEADER = f"{'sequence':32} {'frames':>6} {'med px':>8} {'mean px':>8} {'max px':>8} {'IoU':>8}"


def compare_int8_to_fp32(
    variant: str,
    checkpoint: str | Path | None,
    sequence_roots: Sequence[str | Path],
    *,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    max_frames: int | None = None,
) -> list[PrecisionDeviation]:
    """Track every sequence under ``sequence_roots`` with the FP32 and the INT8 ONNX Runtime graphs.

    Frames are fed to both trackers (RGB); each runs on its own after the first ground-truth
    box, as in real use, so the figures include drift. ``max_frames`` limits each sequence.
    """
    from tqdm import tqdm

    from hit_core.data.folder import load_folder
    from hit_core.tracking import Tracker

    trackers = {
        precision: Tracker.from_options(
            variant, checkpoint, backend="onnxruntime", threads=threads, engine_cache_dir=cache_dir, precision=precision
        )
        for precision in ("fp32", "int8")
    }
    results = []
    for root in sequence_roots:
        for sequence in load_folder(root):
            count = len(sequence) if max_frames is None else min(len(sequence), max_frames)
            boxes: dict[str, list[np.ndarray]] = {"fp32": [], "int8": []}
            for index in tqdm(range(count), desc=sequence.name, unit="frame", leave=False):
                frame = sequence.frame(index)
                for precision, tracker in trackers.items():
                    if index == 0:
                        tracker.initialize(frame, sequence.ground_truth[0])
                    else:
                        boxes[precision].append(tracker.track(frame).box)
            fp32, int8 = np.array(boxes["fp32"]), np.array(boxes["int8"])
            centre = np.hypot(
                (fp32[:, 0] + fp32[:, 2] / 2) - (int8[:, 0] + int8[:, 2] / 2),
                (fp32[:, 1] + fp32[:, 3] / 2) - (int8[:, 1] + int8[:, 3] / 2),
            )
            results.append(
                PrecisionDeviation(
                    sequence.name,
                    len(centre),
                    float(np.median(centre)),
                    float(centre.mean()),
                    float(centre.max()),
                    float(_iou(fp32, int8).mean()),
                )
            )
    for tracker in trackers.values():
        tracker.close()
    return results
