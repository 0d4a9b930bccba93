"""The box loss, including the degenerate-box case and the official drop-the-batch switch."""

from __future__ import annotations

import pytest
import torch

from hit_core.train.config import LossConfig
from hit_core.train.loss import box_loss, generalized_iou, has_degenerate


def _xywh_as_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]], dim=1)


def test_perfect_prediction_has_zero_loss():
    target = torch.tensor([[0.2, 0.3, 0.25, 0.1], [0.4, 0.4, 0.2, 0.2]])
    terms = box_loss(_xywh_as_cxcywh(target)[:, None], target, LossConfig())
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)
    assert terms.iou.item() == pytest.approx(1.0, abs=1e-6)


def test_giou_and_l1_match_hand_computed_values():
    pred = torch.tensor([[0.0, 0.0, 0.5, 0.5]])   # xyxy
    target = torch.tensor([[0.25, 0.25, 0.75, 0.75]])
    giou, iou = generalized_iou(pred, target)
    # intersection 1/16, union 7/16, enclosing 9/16 -> IoU 1/7, GIoU 1/7 - 2/9
    assert iou.item() == pytest.approx(1 / 7, rel=1e-5)
    assert giou.item() == pytest.approx(1 / 7 - 2 / 9, rel=1e-5)
    pred_cxcywh = torch.tensor([[[0.25, 0.25, 0.5, 0.5]]])
    target_xywh = torch.tensor([[0.25, 0.25, 0.5, 0.5]])
    terms = box_loss(pred_cxcywh, target_xywh, LossConfig())
    assert terms.l1.item() == pytest.approx(0.25, rel=1e-6)
    assert terms.total.item() == pytest.approx(2 * (1 - (1 / 7 - 2 / 9)) + 5 * 0.25, rel=1e-5)


def test_target_is_clamped_to_the_crop():
    pred = torch.tensor([[[0.5, 0.5, 1.0, 1.0]]])
    outside = torch.tensor([[-0.5, -0.5, 2.0, 2.0]])
    assert box_loss(pred, outside, LossConfig()).total.item() == pytest.approx(0.0, abs=1e-6)


def _batch_with_one_degenerate():
    pred = torch.tensor([[[0.5, 0.5, 0.2, 0.2]], [[0.3, 0.6, -0.1, 0.2]]], requires_grad=True)
    target = torch.tensor([[0.35, 0.35, 0.3, 0.3], [0.2, 0.5, 0.2, 0.2]])
    return pred, target


def test_degenerate_box_keeps_a_finite_loss_and_the_batch_keeps_giou_by_default():
    pred, target = _batch_with_one_degenerate()
    terms = box_loss(pred, target, LossConfig())
    assert not terms.giou_dropped and terms.giou.item() > 0
    terms.total.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[1, 0, 2] < 0, "the loss does not widen the box with negative width"
    pred.grad = None
    box_loss(pred, target, LossConfig(l1_weight=0.0)).total.backward()
    assert pred.grad[0].abs().sum() > 0, "the healthy box lost its GIoU gradient"


def test_giou_pulls_in_a_degenerate_box_that_sticks_out_of_the_target():
    pred = torch.tensor([[[0.8, 0.5, -0.1, 0.2]]], requires_grad=True)  # x1 0.85 > x2 0.75, right of the target
    target = torch.tensor([[0.2, 0.4, 0.2, 0.2]])
    box_loss(pred, target, LossConfig(l1_weight=0.0)).total.backward()
    assert pred.grad[0, 0, 0] > 0, "GIoU does not move the degenerate box towards the target"


def test_official_switch_drops_giou_for_the_whole_batch():
    pred, target = _batch_with_one_degenerate()
    official = LossConfig(giou_drop_batch_on_degenerate=True)
    terms = box_loss(pred, target, official)
    assert terms.giou_dropped and terms.giou.item() == 0.0
    assert terms.total.item() == pytest.approx(5.0 * terms.l1.item(), rel=1e-6)
    sound = box_loss(pred, target, LossConfig())
    assert sound.total.item() > terms.total.item()
    healthy = box_loss(pred[:1], target[:1], official)
    assert not healthy.giou_dropped and healthy.giou.item() > 0


def test_has_degenerate_detects_swapped_corners_only():
    assert has_degenerate(torch.tensor([[0.5, 0.1, 0.4, 0.3]]))
    assert has_degenerate(torch.tensor([[0.1, 0.5, 0.4, 0.3]]))
    assert not has_degenerate(torch.tensor([[0.1, 0.1, 0.1, 0.3]]))


def test_loss_is_float32_under_bfloat16_predictions():
    pred = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]], dtype=torch.bfloat16)
    terms = box_loss(pred, torch.tensor([[0.4, 0.4, 0.2, 0.2]]), LossConfig())
    assert terms.total.dtype == torch.float32


def test_giou_never_pushes_a_degenerate_box_to_be_more_degenerate():
    generator = torch.Generator().manual_seed(0)
    centres = torch.rand(512, 2, generator=generator)
    sizes = torch.rand(512, 2, generator=generator) * 0.3 - 0.2  # many negative widths/heights
    pred = torch.cat([centres, sizes], dim=1)[:, None].requires_grad_(True)
    target = torch.cat([torch.rand(512, 2, generator=generator) * 0.6,
                        0.05 + torch.rand(512, 2, generator=generator) * 0.3], dim=1)
    box_loss(pred, target, LossConfig(l1_weight=0.0)).total.backward()
    negative = sizes < 0
    assert negative.any()
    assert (pred.grad[:, 0, 2:][negative] <= 1e-9).all(), "GIoU gradient shrinks a negative size further"
