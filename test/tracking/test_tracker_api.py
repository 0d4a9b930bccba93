"""Tracker input validation, colour orders, memory behaviour and result format."""

from __future__ import annotations

import dataclasses
import tracemalloc

import cv2
import numpy as np
import pytest

from hit_core.errors import BackendError, ConfigError
from hit_core.tracking import Tracker, TrackerParams, TrackResult
from tracking.helpers import ReplayBackend

PREDICTION = np.array([0.45, 0.55, 0.1, 0.2], np.float32)


def _tracker(frames: int = 8) -> tuple[Tracker, ReplayBackend]:
    backend = ReplayBackend(np.repeat(PREDICTION[None], frames, axis=0))
    return Tracker(backend), backend


@pytest.fixture(scope="module")
def frames(sequence_frames):
    return sequence_frames("Crossing")[:4]


def test_result_format(frames):
    tracker, _ = _tracker()
    tracker.initialize(frames[0], (205, 151, 17, 50))
    result = tracker.track(frames[1])
    assert isinstance(result, TrackResult)
    assert result.box.shape == (4,) and result.box.dtype == np.float64
    assert 0.0 <= result.score <= 1.0
    assert set(result.timings_ms) == {"preprocess", "inference", "postprocess", "total"}
    assert all(value >= 0 for value in result.timings_ms.values())
    assert result.timings_ms["total"] >= result.timings_ms["inference"]
    assert tracker.backend_name == "replay" and tracker.variant == "tiny"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 0.5


@pytest.mark.parametrize("color", ["bgr", "rgba", "bgra"])
def test_colour_orders_track_identically(frames, color):
    codes = {"bgr": cv2.COLOR_RGB2BGR, "rgba": cv2.COLOR_RGB2RGBA, "bgra": cv2.COLOR_RGB2BGRA}
    reference, reference_backend = _tracker()
    other, other_backend = _tracker()
    reference.initialize(frames[0], (205, 151, 17, 50))
    other.initialize(cv2.cvtColor(frames[0], codes[color]), (205, 151, 17, 50), color=color)
    np.testing.assert_array_equal(other_backend.template, reference_backend.template)
    for frame in frames[1:]:
        expected = reference.track(frame)
        actual = other.track(cv2.cvtColor(frame, codes[color]), color=color)
        np.testing.assert_array_equal(actual.box, expected.box)
        np.testing.assert_array_equal(other_backend.searches[-1], reference_backend.searches[-1])


def test_gray_frames_are_tracked_as_gray_rgb(frames):
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    reference, reference_backend = _tracker()
    other, other_backend = _tracker()
    reference.initialize(cv2.cvtColor(gray[0], cv2.COLOR_GRAY2RGB), (205, 151, 17, 50))
    other.initialize(gray[0][:, :, None], (205, 151, 17, 50), color="gray")
    for frame in gray[1:]:
        np.testing.assert_array_equal(
            other.track(frame, color="gray").box, reference.track(cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)).box
        )
        np.testing.assert_array_equal(other_backend.searches[-1], reference_backend.searches[-1])


def test_padded_row_frames_are_never_copied_whole():
    """A 4000 x 3000 BGR frame with ROS-style row padding: traced allocations stay far below its size."""
    height, width, step = 3000, 4000, 4000 * 3 + 64
    buffer = np.random.default_rng(0).integers(0, 256, size=(height, step), dtype=np.uint8)
    frame = buffer[:, : width * 3].reshape(height, width, 3)
    assert not frame.flags.c_contiguous and np.shares_memory(frame, buffer)
    tracker, _ = _tracker()
    tracemalloc.start()
    try:
        tracker.initialize(frame, (1900, 1400, 120, 90), color="bgr")
        for _ in range(3):
            tracker.track(frame, color="bgr")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < frame.nbytes / 20, f"peak traced allocation {peak} B for a {frame.nbytes} B frame"


def test_track_before_initialize_is_refused(frames):
    tracker, _ = _tracker()
    with pytest.raises(ConfigError, match="initialize"):
        tracker.track(frames[0])
    with pytest.raises(ConfigError, match="initialize"):
        tracker.state


@pytest.mark.parametrize(
    "box, message",
    [
        ((1, 2, 3), "four numbers"),
        ("abcd", "four numbers"),
        ("1234", "four numbers"),
        ((0, 0, float("nan"), 4), "finite"),
        ((0, 0, 0, 4), "positive"),
        ((0, 0, 4, -2), "positive"),
        ((400, 10, 20, 20), "outside"),
        ((-30, 10, 20, 20), "outside"),
        ((10, 240, 20, 20), "outside"),
    ],
)
def test_bad_boxes_are_refused(frames, box, message):
    tracker, _ = _tracker()
    with pytest.raises(ConfigError, match=message):
        tracker.initialize(frames[0], box)
    assert not tracker.initialized


def test_bad_frames_are_refused(frames):
    tracker, _ = _tracker()
    with pytest.raises(ConfigError, match="uint8"):
        tracker.initialize(frames[0].astype(np.float32), (205, 151, 17, 50))
    with pytest.raises(ConfigError, match="H x W x 4"):
        tracker.initialize(frames[0], (205, 151, 17, 50), color="rgba")
    tracker.initialize(frames[0], (205, 151, 17, 50))
    with pytest.raises(ConfigError, match="H x W x 3"):
        tracker.track(frames[1][:, :, 0])


def test_set_state_moves_the_search_without_a_new_template(frames):
    tracker, backend = _tracker()
    tracker.initialize(frames[0], (205, 151, 17, 50))
    template = backend.template
    tracker.set_state((100, 100, 30, 30))
    np.testing.assert_array_equal(tracker.state, (100, 100, 30, 30))
    tracker.track(frames[1])
    assert backend.template is template
    with pytest.raises(ConfigError, match="outside"):
        tracker.set_state((1000, 100, 30, 30))


def test_non_finite_network_output_is_a_backend_error(frames):
    backend = ReplayBackend(np.array([[np.nan, 0.5, 0.1, 0.1]], np.float32))
    tracker = Tracker(backend)
    tracker.initialize(frames[0], (205, 151, 17, 50))
    with pytest.raises(BackendError, match="non-finite"):
        tracker.track(frames[1])


def test_params_are_validated():
    with pytest.raises(ConfigError, match="search_factor"):
        TrackerParams(search_factor=0)
    with pytest.raises(ConfigError, match="clip_margin"):
        TrackerParams(clip_margin=0)
    with pytest.raises(ConfigError, match="Backend"):
        Tracker("torch")


def test_params_change_the_crops(frames):
    tracker = Tracker(ReplayBackend(PREDICTION[None]), TrackerParams(search_factor=5.0))
    tracker.initialize(frames[0], (205, 151, 17, 50))
    wide = tracker.track(frames[1])
    reference, _ = _tracker()
    reference.initialize(frames[0], (205, 151, 17, 50))
    assert not np.array_equal(wide.box, reference.track(frames[1]).box)
