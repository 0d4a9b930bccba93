"""Every backend that can run here tracks like the PyTorch backend on real frames.

Tracked: OTB100/Crossing with the HiT-Tiny fixture weights, ground-truth-fed (before each
frame the state is set to the previous ground-truth box), so every backend sees the very same
search crops and the comparison measures the backend alone, frame by frame. Per backend and
precision, on the network box (cx, cy, w, h)/256:

* onnxruntime fp32, on ONNX Runtime's own CPU kernels and on its OpenVINO execution provider
  (where installed): float32 noise only (measured max 8.3e-7 / 8.9e-7); tolerance 2e-5 as for
  PyTorch vs the official network (fixtures README section 7). Tracker states then agree within
  2e-5 * crop side pixels.
* onnxruntime int8 (symmetric int8 activations), both providers: quantisation error. Measured on
  these frames with these (random, not trained) weights: median 0.008 / 0.009, max 0.043 (about
  3.5 px in the image). Tolerance: median <= 0.02 and max <= 0.1, which a wrong graph (boxes off
  by ~0.3) fails by far.
* tensorrt fp16 (GPU only): half-precision arithmetic; tolerance 1e-2 (2.6 px in the 256 px
  crop) on every frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.tracking import Tracker
from hit_core.tracking.backends import backend_availability, create_backend
from tracking.helpers import RecordingBackend

FRAMES = 40
FP32_BOX_TOLERANCE = 2e-5
INT8_MEDIAN_TOLERANCE = 0.02
INT8_MAX_TOLERANCE = 0.1
FP16_BOX_TOLERANCE = 1e-2


def _gt_fed_run(backend, frames, data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network boxes, tracker boxes and scores for frames 2..FRAMES+1 of Crossing, ground-truth fed."""
    recorder = RecordingBackend(backend)
    tracker = Tracker(recorder)
    tracker.initialize(frames[0], data["init_bbox"])
    states, scores = [], []
    for row in range(FRAMES):
        tracker.set_state(data["gtfed_state_before"][row])
        result = tracker.track(frames[row + 1])
        states.append(result.box)
        scores.append(result.score)
    return np.array([output.box for output in recorder.outputs]), np.array(states), np.array(scores)


@pytest.fixture(scope="module")
def crossing(load_npz, sequence_frames):
    return sequence_frames("Crossing"), load_npz("tracker_Crossing.npz")


@pytest.fixture(scope="module")
def reference(torch_tiny_backend, crossing):
    return _gt_fed_run(torch_tiny_backend, *crossing)


CPU_DEVICES = ("cpu:onnxruntime", "cpu:openvino")


def _run(name, precision, checkpoint, cache_dir, crossing, device="cpu"):
    available, reason = backend_availability(name)
    if not available:
        pytest.skip(f"{name} cannot run here: {reason}")
    if device == "cpu:openvino":
        from hit_core.tracking.backends.onnxruntime_backend import openvino_available

        if not openvino_available():
            pytest.skip("this onnxruntime has no OpenVINO execution provider (onnxruntime-openvino is installed "
                        "on x86-64 Linux only)")
    frames, data = crossing
    with create_backend(
        name, variant="tiny", checkpoint=checkpoint, device=device, engine_cache_dir=cache_dir, precision=precision
    ) as backend:
        return _gt_fed_run(backend, frames, data)


@pytest.mark.parametrize("device", CPU_DEVICES)
def test_onnxruntime_fp32_equals_torch(fixture_checkpoint, backend_cache_dir, crossing, reference, device):
    boxes, states, scores = _run(
        "onnxruntime", "fp32", fixture_checkpoint("tiny"), backend_cache_dir, crossing, device=device
    )
    np.testing.assert_allclose(boxes, reference[0], rtol=0, atol=FP32_BOX_TOLERANCE)
    sides = crossing[1]["gtfed_crop_side"][:FRAMES, None]
    assert (np.abs(states - reference[1]) <= FP32_BOX_TOLERANCE * sides).all()
    np.testing.assert_allclose(scores, reference[2], rtol=0, atol=1e-4)


@pytest.mark.parametrize("device", CPU_DEVICES)
def test_onnxruntime_int8_stays_near_torch(fixture_checkpoint, backend_cache_dir, crossing, reference, device):
    boxes, _, scores = _run(
        "onnxruntime", "int8", fixture_checkpoint("tiny"), backend_cache_dir, crossing, device=device
    )
    error = np.abs(boxes - reference[0])
    assert np.median(error) <= INT8_MEDIAN_TOLERANCE, f"median |delta box| {np.median(error):.4f}"
    assert error.max() <= INT8_MAX_TOLERANCE, f"max |delta box| {error.max():.4f}"
    assert ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.gpu
def test_tensorrt_fp16_stays_near_torch(fixture_checkpoint, backend_cache_dir, crossing, reference):
    boxes, _, _ = _run("tensorrt", "fp16", fixture_checkpoint("tiny"), backend_cache_dir, crossing, device="cuda")
    np.testing.assert_allclose(boxes, reference[0], rtol=0, atol=FP16_BOX_TOLERANCE)
