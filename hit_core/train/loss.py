"""The HiT box loss: ``giou_weight * (1 - GIoU) + l1_weight * L1`` on (x1, y1, x2, y2) boxes (spec section 6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hit_core.train.config import LossConfig

_EPS = 1e-7


@dataclass(frozen=True)
class LossTerms:
    """The loss to back-propagate and its parts (detached), averaged over the batch."""

    total: torch.Tensor
    giou: torch.Tensor
    l1: torch.Tensor
    iou: torch.Tensor
    #: True when the official rule dropped the GIoU term for this batch.
    giou_dropped: bool


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def generalized_iou(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise (GIoU, IoU) of (N, 4) xyxy boxes.

    Defined for every box: a negative width or height counts as zero area, so a degenerate
    prediction gets IoU 0 and a finite GIoU whose gradient never makes it more degenerate (its
    stray corners are pulled towards the target through the enclosing box; the L1 term does
    the rest), and the other boxes of the batch keep their GIoU.
    """
    pred_area = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    target_area = (target[:, 2] - target[:, 0]).clamp(min=0) * (target[:, 3] - target[:, 1]).clamp(min=0)
    top_left = torch.maximum(pred[:, :2], target[:, :2])
    bottom_right = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    union = pred_area + target_area - inter
    iou = inter / union.clamp(min=_EPS)
    # The enclosing box spans every coordinate of both boxes. For a degenerate prediction
    # (x1 > x2) taking only x1 for the minimum and x2 for the maximum would reward making the
    # box more degenerate; spanning all corners only ever pulls stray corners towards the target.
    xs = torch.cat([pred[:, 0::2], target[:, 0::2]], dim=1)
    ys = torch.cat([pred[:, 1::2], target[:, 1::2]], dim=1)
    enclosing = (xs.amax(dim=1) - xs.amin(dim=1)) * (ys.amax(dim=1) - ys.amin(dim=1))
    return iou - (enclosing - union) / enclosing.clamp(min=_EPS), iou


def has_degenerate(boxes_xyxy: torch.Tensor) -> bool:
    """True if any box has x2 < x1 or y2 < y1 (what the official GIoU asserts against)."""
    return bool(((boxes_xyxy[:, 2] < boxes_xyxy[:, 0]) | (boxes_xyxy[:, 3] < boxes_xyxy[:, 1])).any())


def box_loss(pred_boxes: torch.Tensor, target_xywh: torch.Tensor, config: LossConfig) -> LossTerms:
    """Loss of predicted ``pred_boxes`` (B, 1, 4) or (B, 4) normalised (cx, cy, w, h) against
    ``target_xywh`` (B, 4) normalised (x, y, w, h).

    The target is converted to corners and clamped to [0, 1]; L1 is the mean absolute error
    over the four corner coordinates. Computed in float32 whatever the autocast dtype.
    """
    pred = cxcywh_to_xyxy(pred_boxes.reshape(-1, 4).float())
    target = xywh_to_xyxy(target_xywh.reshape(-1, 4).float()).clamp(0.0, 1.0)
    if pred.shape != target.shape:
        raise ValueError(f"predicted boxes {tuple(pred.shape)} and targets {tuple(target.shape)} do not match")
    giou, iou = generalized_iou(pred, target)
    giou_loss = (1.0 - giou).mean()
    l1 = torch.nn.functional.l1_loss(pred, target)
    dropped = config.giou_drop_batch_on_degenerate and has_degenerate(pred.detach())
    giou_term = giou_loss.new_zeros(()) if dropped else giou_loss
    total = config.giou_weight * giou_term + config.l1_weight * l1
    return LossTerms(
        total=total,
        giou=giou_term.detach(),
        l1=l1.detach(),
        iou=iou.detach().mean(),
        giou_dropped=dropped,
    )
