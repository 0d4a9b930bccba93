"""INT8 search graph for CPUs: ONNX Runtime static quantisation calibrated on real crops.

Only layers with constant weights are quantised (every Conv except the first one on the
RGB image, and every MatMul/Gemm whose second operand is a weight): weights per output
channel as signed int8, activations as signed int8 with symmetric ranges (zero point 0)
from min/max calibration over real (search crop, template tokens) pairs. Symmetric
activations let OpenVINO's integer kernels skip the zero-point correction (measured
through ONNX Runtime's OpenVINO provider: Tiny 4.09 -> 3.55 ms, Small 5.46 -> 4.66 ms per
frame; ONNX Runtime's own kernels within 2 %); the OpenVINO provider also needs the 2-D
Gemm form below (it fails to compile quantised MatMuls on 3-D token tensors).
Linear layers are first rewritten as 2-D Gemms with their bias
(:func:`~hit_core.export.runtime_graph.linear_layers_as_gemm`) and keep a float output,
which ONNX Runtime runs as one integer kernel per layer (QGemm). The attention products
(query x key, attention x value), the softmaxes, the soft-argmax and everything else stay
float32, which keeps the corner maps smooth.
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
from hit_core.export.runtime_graph import linear_layers_as_gemm

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
    model, _ = linear_layers_as_gemm(onnx.load(str(search_path)))
    advice = _DropPreprocessingAdvice()
    logging.getLogger().addFilter(advice)
    with tempfile.TemporaryDirectory(prefix="hit_int8_") as scratch:
        prepared = Path(scratch) / "search_gemm.onnx"
        onnx.save(model, str(prepared))
        output = Path(scratch) / "search_int8.onnx"
        try:
            quantize_static(
                str(prepared),
                str(output),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_quantize=weighted_nodes(model),
                calibrate_method=CalibrationMethod.MinMax,
                # A float Gemm output lets ONNX Runtime fuse the quantised linear layer and its bias into one
                # QGemm with a float result: no requantisation of every layer output (faster and closer to FP32).
                extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm"], "ActivationSymmetric": True},
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
    """How far INT8 boxes are from FP32 boxes on one sequence, in image pixels.

    *Same crops*: both networks see the identical search crop of every frame (cut around the
    previous frame's ground truth, template from the first frame): the distance between
    their box centres, mapped back to image pixels; this is the network's own deviation.
    *Free-running*: two trackers run on their own from the first ground-truth box, as in
    real use; their centre distance and mean IoU include drift (small per-frame
    differences can send an uncertain tracker elsewhere).
    """

    sequence: str
    frames: int
    same_crop_px_median: float
    same_crop_px_p95: float
    same_crop_px_max: float
    free_px_median: float
    free_iou_mean: float

    def row(self) -> str:
        return (
            f"{self.sequence:30} {self.frames:6d} {self.same_crop_px_median:8.2f} {self.same_crop_px_p95:8.2f} "
            f"{self.same_crop_px_max:8.2f} {self.free_px_median:9.2f} {self.free_iou_mean:8.3f}"
        )


DEVIATION_HEADER = (
    f"{'sequence':30} {'frames':>6} {'same med':>8} {'same p95':>8} {'same max':>8} {'free med':>9} {'free IoU':>8}"
)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.hypot((a[:, 0] + a[:, 2] / 2) - (b[:, 0] + b[:, 2] / 2), (a[:, 1] + a[:, 3] / 2) - (b[:, 1] + b[:, 3] / 2))


def _same_crop_deviation(sequence, count: int, backends: dict) -> np.ndarray:
    from hit_core.export.crops import SEARCH_FACTOR, SEARCH_SIZE, TEMPLATE_FACTOR, TEMPLATE_SIZE
    from hit_core.tracking.crop import sample_target

    boxes = sequence.ground_truth
    template, _ = sample_target(sequence.frame(0), boxes[0], TEMPLATE_FACTOR, TEMPLATE_SIZE)
    for backend in backends.values():
        backend.set_template(template)
    distances = []
    for index in range(1, count):
        previous = boxes[index - 1]
        if not (np.all(np.isfinite(previous)) and np.all(previous[2:] > 0)):
            continue
        search, resize_factor = sample_target(sequence.frame(index), previous, SEARCH_FACTOR, SEARCH_SIZE)
        fp32, int8 = (backends[precision].infer(search).box for precision in ("fp32", "int8"))
        pixels_per_unit = SEARCH_SIZE / resize_factor
        distances.append(float(np.hypot(*(fp32[:2] - int8[:2]))) * pixels_per_unit)
    return np.array(distances)


def compare_int8_to_fp32(
    variant: str,
    checkpoint: str | Path | None,
    sequence_roots: Sequence[str | Path],
    *,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    max_frames: int | None = None,
) -> list[PrecisionDeviation]:
    """INT8 vs FP32 ONNX Runtime on every sequence under ``sequence_roots`` (see :class:`PrecisionDeviation`).

    ``max_frames`` limits each sequence. Frames are fed as RGB.
    """
    from tqdm import tqdm

    from hit_core.data.folder import load_folder
    from hit_core.tracking import Tracker
    from hit_core.tracking.backends import create_backend

    options = dict(variant=variant, checkpoint=checkpoint, threads=threads, engine_cache_dir=cache_dir)
    trackers = {p: Tracker.from_options(backend="onnxruntime", precision=p, **options) for p in ("fp32", "int8")}
    backends = {p: create_backend("onnxruntime", precision=p, **options) for p in ("fp32", "int8")}
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
            same = _same_crop_deviation(sequence, count, backends)
            fp32, int8 = np.array(boxes["fp32"]), np.array(boxes["int8"])
            results.append(
                PrecisionDeviation(
                    sequence.name,
                    len(fp32),
                    float(np.median(same)),
                    float(np.percentile(same, 95)),
                    float(same.max()),
                    float(np.median(_centre_distance(fp32, int8))),
                    float(_iou(fp32, int8).mean()),
                )
            )
    for runner in (*trackers.values(), *backends.values()):
        runner.close()
    return results
