"""Metrics against small cases computed by hand (the numbers in the comments are the derivations)."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.errors import DatasetError
from hit_core.eval.metrics import (
    IOU_THRESHOLDS,
    average_curves,
    center_error,
    clip_to_image,
    got10k_frame_ious,
    got10k_pooled,
    iou_continuous,
    iou_inclusive,
    normalized_center_error,
    ope_curves,
    ope_frame_errors,
)

GT = np.array([[10, 10, 10, 10]] * 4, dtype=float)
# frame 0 is replaced by the ground truth; frame 1 exact (IoU 1); frame 2 shifted 5 px
# (intersection 5x10 = 50, union 150, IoU 1/3, centre error 5 px, normalised 0.5); frame 3 far away.
PRED = np.array([[0, 0, 0, 0], [10, 10, 10, 10], [15, 10, 10, 10], [100, 100, 10, 10]], dtype=float)


def test_iou_conventions_agree_on_pixel_boxes() -> None:
    a = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 4.0, 10.0]])
    b = np.array([[1.0, 1.0, 2.0, 2.0], [5.0, 5.0, 10.0, 10.0], [0.0, 0.0, 3.0, 10.0]])
    expected = [1 / 7, 25 / 175, 0.75]  # 1 px of 7; 5x5 of 175; 30 of 40
    np.testing.assert_allclose(iou_inclusive(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(iou_continuous(a, b), expected, rtol=1e-12)


def test_iou_of_disjoint_boxes_is_zero() -> None:
    a = np.array([[0.0, 0.0, 5.0, 5.0]])
    b = np.array([[20.0, 20.0, 5.0, 5.0]])
    assert iou_inclusive(a, b)[0] == 0.0
    assert iou_continuous(a, b)[0] == 0.0


def test_centres_use_the_w_minus_one_convention() -> None:
    pred = np.array([[0.0, 0.0, 3.0, 5.0]])  # centre (1, 2)
    gt = np.array([[4.0, 6.0, 5.0, 5.0]])  # centre (6, 8): distance sqrt(25 + 36)
    assert center_error(pred, gt)[0] == pytest.approx(np.sqrt(61))
    # normalised: (1/5, 2/5) vs (6/5, 8/5): distance sqrt(1 + 1.44)
    assert normalized_center_error(pred, gt)[0] == pytest.approx(np.sqrt(1 + 1.44))


def test_success_curve_auc_op_and_precisions_by_hand() -> None:
    curves = ope_curves(PRED, GT)
    overlaps = [1, 1, 1 / 3, 0]
    # thresholds 0..0.30 (7 points): 3 of 4 frames above; 0.35..0.95 (13 points): 2 of 4; 1.0: none
    expected_success = [0.75] * 7 + [0.5] * 13 + [0.0]
    np.testing.assert_allclose(curves.success, expected_success)
    scores = curves.scores()
    assert scores["auc"] == pytest.approx(100 * (7 * 0.75 + 13 * 0.5) / 21)
    assert scores["op50"] == pytest.approx(50.0)
    assert scores["op75"] == pytest.approx(50.0)
    assert scores["precision"] == pytest.approx(75.0)  # errors 0, 0, 5, 127 px
    assert scores["norm_precision"] == pytest.approx(50.0)  # 0, 0, 0.5, 9 > 0.2
    assert curves.norm_precision[50] == pytest.approx(0.75)  # 0.5 <= 0.50 counts
    assert scores["mean_overlap"] == pytest.approx(100 * np.mean(overlaps))
    assert curves.frames == 4


def test_iou_equal_to_a_threshold_does_not_pass_it() -> None:
    gt = np.array([[1, 1, 4, 10]] * 2, dtype=float)
    pred = np.array([[1, 1, 4, 10], [1, 1, 3, 10]], dtype=float)  # second IoU exactly 0.75
    curves = ope_curves(pred, gt)
    assert curves.success[15] == pytest.approx(0.5)  # 0.75 is not > 0.75
    assert curves.success[14] == pytest.approx(1.0)
    assert IOU_THRESHOLDS[7] == 0.35


def test_first_frame_is_ground_truth_and_counted() -> None:
    gt = np.array([[10, 10, 10, 10]] * 2, dtype=float)
    pred = np.array([[500, 500, 1, 1], [500, 500, 10, 10]], dtype=float)
    curves = ope_curves(pred, gt)
    assert curves.success[0] == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["stark", "pytracking"])
def test_invalid_ground_truth_frames_fail_both_plots(mode: str) -> None:
    gt = GT.copy()
    gt[1, 2] = 0.0  # zero width: invalid in both pytracking variants
    errors = ope_frame_errors(PRED, gt, mode=mode)
    assert errors.overlap[1] == -1.0
    assert errors.center[1] == np.inf
    assert errors.norm_center[1] == -1.0  # pytracking: -1 passes every normalised threshold
    curves = ope_curves(PRED, gt, mode=mode)
    assert curves.success[0] == pytest.approx(0.5)
    assert curves.precision[20] == pytest.approx(0.5)
    assert curves.norm_precision[20] == pytest.approx(0.5)  # frames 0 and 1 pass


def test_uav_rule_counts_invalid_frames_as_precision_hits() -> None:
    gt = GT.copy()
    gt[3] = np.nan  # UAV123 marks absent targets with NaN
    curves = ope_curves(PRED, gt, invalid_center_hit=True)
    assert curves.precision[0] == pytest.approx(0.75)  # frames 0, 1 exact and frame 3 (-1)
    assert curves.success[0] == pytest.approx(0.75)  # frames 0, 1, 2; frame 3 fails


def test_box_touching_the_border_is_valid_only_in_the_2020_rule() -> None:
    gt = np.array([[0, 5, 10, 10]] * 2, dtype=float)
    pred = gt.copy()
    assert ope_curves(pred, gt, mode="stark").success[0] == pytest.approx(1.0)
    assert ope_curves(pred, gt, mode="pytracking").success[0] == pytest.approx(0.0)


def test_zero_size_prediction_takes_the_previous_box() -> None:
    pred = PRED.copy()
    pred[2] = [15, 10, 0, 10]  # replaced by frame 1's exact box
    errors = ope_frame_errors(pred, GT)
    assert errors.overlap[2] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [[np.nan, 10, 10, 10], [10, 10, -3, 10]])
def test_nan_or_negative_prediction_is_rejected_like_pytracking(bad: list[float]) -> None:
    pred = PRED.copy()
    pred[2] = bad
    with pytest.raises(DatasetError, match="frame\\(s\\) 2"):
        ope_curves(pred, GT, mode="stark")
    # the LaSOT toolkit replaces it by the previous prediction instead (frame 1: exact)
    assert ope_frame_errors(pred, GT, mode="lasot").overlap[2] == pytest.approx(1.0)


def test_short_results_pad_as_failures_or_raise_for_lasot() -> None:
    curves = ope_curves(PRED[:2], GT)
    assert curves.success[0] == pytest.approx(0.5)
    assert curves.precision[50] == pytest.approx(0.5)
    with pytest.raises(DatasetError, match="2 predicted boxes for 4"):
        ope_curves(PRED[:2], GT, mode="lasot")
    with pytest.raises(DatasetError, match="2 predicted boxes for 4"):
        ope_curves(PRED[:2], GT, allow_shorter=False)
    longer = np.vstack([PRED, PRED])
    np.testing.assert_allclose(ope_curves(longer, GT).success, ope_curves(PRED, GT).success)


def test_lasot_toolkit_absent_and_nonpositive_ground_truth() -> None:
    gt = GT.copy()
    gt[1, 0] = 0.0  # x = 0: overlap -1 but centre error -1 (a precision hit)
    visible = np.array([True, True, True, False])
    errors = ope_frame_errors(PRED, gt, visible, mode="lasot")
    assert errors.overlap[1] == -1.0 and errors.center[1] == -1.0
    assert errors.overlap[3] == -1.0 and errors.center[3] == np.inf and errors.norm_center[3] == np.inf
    curves = ope_curves(PRED, gt, visible, mode="lasot")
    assert curves.success[0] == pytest.approx(0.5)  # frames 0 and 2 of 4
    assert curves.precision[20] == pytest.approx(0.75)  # frames 0, 1 (-1) and 2


def test_pytracking_lasot_visibility_fails_both_centre_errors() -> None:
    visible = np.array([True, False, True, True])
    errors = ope_frame_errors(PRED, GT, visible, mode="stark")
    assert errors.overlap[1] == -1.0 and errors.center[1] == np.inf and errors.norm_center[1] == np.inf


def test_got10k_ope_mode_drops_nan_frames() -> None:
    gt = GT.copy()
    gt[3] = np.nan
    curves = ope_curves(PRED, gt, mode="got10k")
    assert curves.frames == 3
    assert curves.success[0] == pytest.approx(1.0)  # IoUs 1, 1, 1/3


def test_dataset_average_weighs_sequences_equally() -> None:
    short = ope_curves(PRED[:2], GT[:2])  # perfect
    long = ope_curves(np.tile([[500, 500, 10, 10]], (8, 1)), np.tile(GT[:1], (8, 1)))  # only frame 0
    average = average_curves([short, long])
    assert average.success[0] == pytest.approx((1.0 + 1 / 8) / 2)
    assert average.scores["auc"] == pytest.approx((short.scores()["auc"] + long.scores()["auc"]) / 2)


def test_got10k_clipping_first_frame_and_cover() -> None:
    assert clip_to_image(np.array([[-5.0, 2.0, 20.0, 20.0]]), (10, 12)).tolist() == [[0.0, 2.0, 10.0, 10.0]]
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    pred = np.array([[50, 50, 1, 1], [-10, 0, 20, 10], [0, 0, 5, 10], [0, 0, 10, 10]], dtype=float)
    # frame 0 dropped; frame 1 clipped to (0, 0, 10, 10): IoU 1; frame 2: 0.5; frame 3 absent (cover 0)
    ious = got10k_frame_ious(pred, gt, (10, 10), cover=np.array([8, 8, 8, 0]))
    np.testing.assert_allclose(ious, [1.0, 0.5])


def test_got10k_pools_frames_not_sequences() -> None:
    pooled = got10k_pooled([np.array([1.0, 1.0, 1.0]), np.array([0.0])])
    assert pooled["ao"] == pytest.approx(75.0)  # per-sequence averaging would give 50
    assert pooled["sr50"] == pytest.approx(75.0)
    assert pooled["sr75"] == pytest.approx(75.0)
    assert len(pooled["success_curve"]) == 101


def test_malformed_inputs_raise_clear_errors() -> None:
    with pytest.raises(DatasetError, match="N x 4"):
        ope_curves(np.zeros((3, 5)), GT)
    with pytest.raises(DatasetError, match="unknown metric mode"):
        ope_curves(PRED, GT, mode="vot")
    with pytest.raises(DatasetError, match="visibility flags"):
        ope_curves(PRED, GT, np.ones(3, dtype=bool))
    with pytest.raises(DatasetError, match="NaN"):
        got10k_frame_ious(np.full((4, 4), np.nan), GT, (100, 100))
