"""Map-back and clipping reproduce the official arithmetic bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.tracking.mapback import clip_box, map_box_back, scale_prediction


def _check_rows(state_before, pred_norm, resize_factor, image_hw, pred_img, unclipped, state_after):
    for row in range(len(state_before)):
        scaled = scale_prediction(pred_norm[row], resize_factor[row])
        np.testing.assert_array_equal(scaled, pred_img[row], err_msg=f"pred_img row {row}")
        box = map_box_back(state_before[row], scaled, resize_factor[row])
        np.testing.assert_array_equal(box, unclipped[row], err_msg=f"unclipped row {row}")
        height, width = image_hw[row]
        np.testing.assert_array_equal(
            clip_box(box, int(height), int(width)), state_after[row], err_msg=f"clipped row {row}"
        )


def test_mapback_cases_are_bit_exact(load_npz):
    data = load_npz("mapback.npz")
    assert len(data["state_before"]) == 300
    _check_rows(
        data["state_before"],
        data["pred_norm"],
        data["resize_factor"],
        data["image_hw"],
        data["pred_img"],
        data["box_unclipped"],
        data["state_after"],
    )


@pytest.mark.parametrize("sequence", ["Crossing", "wakeboard7"])
@pytest.mark.parametrize("mode", ["free", "gtfed"])
def test_tracker_rows_map_back_bit_exact(load_npz, sequence, mode):
    data = load_npz(f"tracker_{sequence}.npz")
    rows = len(data[f"{mode}_state_before"])
    _check_rows(
        data[f"{mode}_state_before"],
        data[f"{mode}_pred_norm"],
        data[f"{mode}_resize_factor"],
        np.repeat(data["image_hw"][None], rows, axis=0),
        data[f"{mode}_pred_img"],
        data[f"{mode}_box_unclipped"],
        data[f"{mode}_state_after"],
    )


def test_float64_scaling_would_not_be_bit_exact(load_npz):
    """Guards the reason scale_prediction works in float32: float64 gives other bits on these rows."""
    data = load_npz("mapback.npz")
    float64 = data["pred_norm"].astype(np.float64) * 256 / data["resize_factor"][:, None]
    assert not np.array_equal(float64, data["pred_img"])


def test_clip_keeps_a_margin_sized_box_inside_the_image():
    assert clip_box((-5.0, 300.0, -3.0, 50.0), 240, 360) == (0.0, 230.0, 10.0, 10.0)
    assert clip_box((100.0, 50.0, 20.5, 30.25), 240, 360) == (100.0, 50.0, 20.5, 30.25)
