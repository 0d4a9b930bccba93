"""The official crop (``sample_target``) reproduced bit for bit, from any colour order and memory layout."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hit_core.errors import ConfigError
from hit_core.tracking.crop import check_frame, crop_side, sample_target
from tracking.helpers import sha256


@pytest.fixture(scope="module")
def crop_cases(load_npz):
    data = load_npz("crops.npz")
    return data["image"], json.loads(str(data["cases_json"])), data


def test_every_official_crop_case_is_bit_exact(crop_cases):
    image, cases, data = crop_cases
    assert len(cases) == 34
    for case in cases:
        label = f"case {case['index']:02d} {case['name']}"
        if "resized_error" in case:
            with pytest.raises(ConfigError, match="too small bounding box"):
                sample_target(image, case["box"], case["factor"], case["output_sz"])
            with pytest.raises(ConfigError, match="too small bounding box"):
                sample_target(image, case["box"], case["factor"], None)
            continue
        assert crop_side(case["box"], case["factor"]) == case["crop_sz"], label
        resized, factor = sample_target(image, case["box"], case["factor"], case["output_sz"])
        assert list(resized.shape) == case["resized_shape"], label
        assert sha256(resized) == case["resized_sha256"], label
        assert factor == case["resized_resize_factor"], label
        raw, raw_factor = sample_target(image, case["box"], case["factor"], None)
        assert list(raw.shape) == case["raw_shape"], label
        assert sha256(raw) == case["raw_sha256"], label
        np.testing.assert_array_equal(raw, data[f"case{case['index']:02d}_raw"], err_msg=label)
        assert raw_factor == 1.0


def _as_color(rgb: np.ndarray, color: str) -> np.ndarray:
    codes = {"bgr": cv2.COLOR_RGB2BGR, "rgba": cv2.COLOR_RGB2RGBA, "bgra": cv2.COLOR_RGB2BGRA}
    return rgb if color == "rgb" else cv2.cvtColor(rgb, codes[color])


@pytest.mark.parametrize("color", ["bgr", "rgba", "bgra"])
def test_colour_orders_give_the_rgb_crop_bytes(crop_cases, color):
    image, cases, _ = crop_cases
    frame = _as_color(image, color)
    for case in cases:
        if "resized_error" in case:
            continue
        for size in (case["output_sz"], None):
            expected, _ = sample_target(image, case["box"], case["factor"], size)
            actual, _ = sample_target(frame, case["box"], case["factor"], size, color=color)
            np.testing.assert_array_equal(actual, expected, err_msg=f"{color} case {case['index']}")


def test_gray_frames_crop_like_their_rgb_expansion(crop_cases):
    image, cases, _ = crop_cases
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    expanded = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    for case in cases:
        if "resized_error" in case:
            continue
        expected, _ = sample_target(expanded, case["box"], case["factor"], case["output_sz"])
        for frame in (gray, gray[:, :, None]):
            view = check_frame(frame, "gray")
            actual, _ = sample_target(view, case["box"], case["factor"], case["output_sz"], color="gray")
            np.testing.assert_array_equal(actual, expected, err_msg=f"case {case['index']}")


def test_strided_views_crop_like_contiguous_frames(crop_cases):
    """ROS images with row padding (``step`` > width * channels) arrive as strided views."""
    image, cases, _ = crop_cases
    height, width, _ = image.shape
    padded_rows = np.zeros((height, width * 3 + 7), np.uint8)
    padded_rows[:, : width * 3] = image.reshape(height, -1)
    row_view = padded_rows[:, : width * 3].reshape(height, width, 3)
    assert not row_view.flags.c_contiguous
    every_other_column = np.repeat(image, 2, axis=1)[:, ::2]
    reversed_channels = np.ascontiguousarray(image[:, :, ::-1])[:, :, ::-1]
    for frame in (row_view, every_other_column, reversed_channels):
        np.testing.assert_array_equal(frame, image)
        for case in cases:
            if "resized_error" in case:
                continue
            expected, _ = sample_target(image, case["box"], case["factor"], case["output_sz"])
            actual, _ = sample_target(frame, case["box"], case["factor"], case["output_sz"])
            np.testing.assert_array_equal(actual, expected, err_msg=f"case {case['index']}")
    bgr_as_reversed_view = image[:, :, ::-1]
    for case in cases[:16]:
        expected, _ = sample_target(image, case["box"], case["factor"], case["output_sz"])
        actual, _ = sample_target(bgr_as_reversed_view, case["box"], case["factor"], case["output_sz"], color="bgr")
        np.testing.assert_array_equal(actual, expected, err_msg=f"case {case['index']}")


@pytest.mark.parametrize(
    "frame, color, message",
    [
        (np.zeros((4, 4, 3), np.float32), "rgb", "uint8"),
        (np.zeros((4, 4, 4), np.uint8), "rgb", "H x W x 3"),
        (np.zeros((4, 4, 3), np.uint8), "rgba", "H x W x 4"),
        (np.zeros((4, 4, 3), np.uint8), "gray", "H x W or H x W x 1"),
        (np.zeros((4, 4), np.uint8), "bgr", "H x W x 3"),
        (np.zeros((0, 4, 3), np.uint8), "rgb", "empty"),
        (np.zeros((4, 4, 3), np.uint8), "yuv", "unknown colour order"),
        ([[0, 0, 0]], "rgb", "numpy array"),
    ],
)
def test_bad_frames_are_refused_with_the_reason(frame, color, message):
    with pytest.raises(ConfigError, match=message):
        check_frame(frame, color)


@pytest.mark.parametrize("box", [(0, 0, float("nan"), 4), (0, 0, 4, -1), (float("inf"), 0, 4, 4)])
def test_non_finite_or_negative_boxes_are_refused(box):
    with pytest.raises(ConfigError):
        sample_target(np.zeros((8, 8, 3), np.uint8), box, 2.0, 16)
