"""Tracking metrics, computed exactly as the named toolkits compute them.

Boxes are ``(N, 4)`` arrays of ``x, y, w, h`` in pixels (top-left corner). Thresholds are
looked up by position, never by float equality (``0.75`` is index 15 of the IoU grid).

One-pass evaluation (OTB, LaSOT, UAV123, NfS, TrackingNet, folder) has four modes:

``stark``
    pytracking as copied into STARK/OSTrack/HiT (``lib/test/analysis``), the code that produced
    HiT's published numbers: a ground-truth box is valid when ``w > 0 and h > 0``.
``pytracking``
    pytracking since 2022-08 (commit da789d1): valid needs all of ``x, y, w, h > 0``.
``lasot``
    the LaSOT MATLAB toolkit: absent frames fail both plots, a ground truth with any value
    ``<= 0`` fails the success plot but passes every precision threshold (centre error -1),
    and invalid predictions (NaN, ``w <= 0`` or ``h <= 0``) are replaced by the previous box.
``got10k``
    the ``got10k`` Python toolkit's OTB/UAV123/NfS experiments: continuous IoU (right edge =
    x + w), frames whose ground truth has a NaN are dropped, no other rule.

In the two pytracking modes frames with an invalid or invisible ground truth count as failures
(the denominator is every frame), predictions with NaN or negative size are rejected (pytracking
aborts with "Invalid results") and zero-size predictions are replaced by the previous box.
``got10k_pooled`` is the GOT-10k protocol (AO / SR pooled over the frames of all sequences).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from typing import Any

import numpy as np

from hit_core.errors import DatasetError

OPE_MODES = ("stark", "pytracking", "lasot", "got10k")

# i / 20 is the double nearest to each nominal threshold (0.05 * 7 would be 0.35000000000000003).
IOU_THRESHOLDS = np.arange(21, dtype=np.float64) / 20.0
CENTER_THRESHOLDS_PX = np.arange(51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0
OP50_INDEX = 10
OP75_INDEX = 15
PRECISION_INDEX = 20
NORM_PRECISION_INDEX = 20

GOT10K_IOU_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # the toolkit's own grid, kept bit-identical


def _as_boxes(boxes: np.ndarray | SequenceOf, what: str) -> np.ndarray:
    array = np.array(boxes, dtype=np.float64, copy=True)
    if array.ndim != 2 or array.shape[1] != 4:
        raise DatasetError(f"{what} must be an N x 4 array of x, y, w, h boxes, got shape {array.shape}")
    return array


def iou_inclusive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row IoU with the inclusive-pixel convention of the LaSOT toolkit and pytracking
    (intersection side = min(x + w - 1) - max(x) + 1, clamped at 0). NaN where a box has a NaN.

    The side is computed as min(x + w) - max(x), the same number without the float rounding
    that the -1 / +1 pair adds to non-integer boxes (which can push an exact match past 1.0).
    """
    width = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    height = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    intersection = width * height
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(intersection / union, 1.0)


def clip_to_image(boxes: np.ndarray, image_size: tuple[float, float]) -> np.ndarray:
    """Clip boxes to ``image_size = (width, height)`` as the GOT-10k toolkit does: x in [0, W],
    then w in [0, W - x] (same for y, h)."""
    width, height = image_size
    clipped = np.array(boxes, dtype=np.float64, copy=True)
    clipped[:, 0] = np.clip(clipped[:, 0], 0.0, width)
    clipped[:, 1] = np.clip(clipped[:, 1], 0.0, height)
    clipped[:, 2] = np.clip(clipped[:, 2], 0.0, width - clipped[:, 0])
    clipped[:, 3] = np.clip(clipped[:, 3], 0.0, height - clipped[:, 1])
    return clipped


def iou_continuous(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row IoU with continuous coordinates (right = x + w), machine-epsilon in the
    denominator and the result clipped to [0, 1], as the got10k toolkit."""
    width = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    height = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    intersection = width * height
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - intersection
    return np.clip(intersection / (union + np.finfo(np.float64).eps), 0.0, 1.0)


def centers(boxes: np.ndarray) -> np.ndarray:
    """Box centres ``x + (w - 1) / 2, y + (h - 1) / 2`` (the convention of every OPE toolkit)."""
    return boxes[:, :2] + (boxes[:, 2:] - 1.0) / 2.0


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance between box centres, in pixels."""
    return np.linalg.norm(centers(pred) - centers(gt), axis=1)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre distance after dividing both centres by the ground-truth width (x) and height (y)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.norm((centers(pred) - centers(gt)) / gt[:, 2:], axis=1)


@dataclass(frozen=True)
class FrameErrors:
    """Per-frame overlap and centre errors after a mode's rules; -1 / inf encode failures and hits
    exactly as the toolkit does (-1 never exceeds an IoU threshold but passes every error threshold)."""

    overlap: np.ndarray
    center: np.ndarray
    norm_center: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class SequenceCurves:
    """Success (21 IoU thresholds), precision (0..50 px) and normalised precision (0..0.5) curves
    of one sequence as fractions in [0, 1], plus its mean IoU over valid frames and its length."""

    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    mean_overlap: float
    frames: int

    def scores(self) -> dict[str, float]:
        """AUC, OP50, OP75, P@20px, P_norm@0.2 and mean IoU, in percent."""
        return _curve_scores(self.success, self.precision, self.norm_precision, self.mean_overlap)


def _curve_scores(
    success: np.ndarray, precision: np.ndarray, norm_precision: np.ndarray, mean_overlap: float
) -> dict[str, float]:
    return {
        "auc": 100.0 * float(np.mean(success)),
        "op50": 100.0 * float(success[OP50_INDEX]),
        "op75": 100.0 * float(success[OP75_INDEX]),
        "precision": 100.0 * float(precision[PRECISION_INDEX]),
        "norm_precision": 100.0 * float(norm_precision[NORM_PRECISION_INDEX]),
        "mean_overlap": 100.0 * mean_overlap,
    }


def _fill_from_previous(boxes: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """Replace each flagged row by the nearest earlier unflagged row (a flagged row 0 keeps its own)."""
    source = np.where(replace, 0, np.arange(len(boxes)))
    return boxes[np.maximum.accumulate(source)]


def _fit_length(pred: np.ndarray, frames: int, allow_shorter: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Truncate longer predictions; pad shorter ones (if allowed) and flag the padded rows."""
    missing = np.zeros(frames, dtype=bool)
    if len(pred) >= frames:
        return pred[:frames], missing
    if not allow_shorter:
        raise DatasetError(
            f"{name}: {len(pred)} predicted boxes for {frames} ground-truth frames; "
            f"this protocol needs a box for every frame (rerun the sequence)"
        )
    missing[len(pred) :] = True
    padded = np.zeros((frames, 4))
    padded[: len(pred)] = pred
    return padded, missing


def ope_frame_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    visible: np.ndarray | None = None,
    *,
    mode: str = "stark",
    invalid_center_hit: bool = False,
    allow_shorter: bool = True,
    name: str = "sequence",
) -> FrameErrors:
    """Per-frame errors of one sequence under OPE ``mode`` (see the module docstring).

    ``visible`` (bool per frame, or None) marks frames where the target is present; pass it for
    datasets whose toolkit uses it (LaSOT). ``invalid_center_hit`` gives invalid frames a centre
    error of -1 (pytracking's UAV123 rule) instead of +inf. ``allow_shorter`` lets the two
    pytracking modes pad short predictions (padded frames fail); otherwise, and always in the
    ``lasot`` and ``got10k`` modes, a short result raises DatasetError. Longer ones are truncated.
    The first prediction is replaced by the first ground-truth box in every mode.
    """
    if mode not in OPE_MODES:
        raise DatasetError(f"unknown metric mode {mode!r}; choose one of {', '.join(OPE_MODES)}")
    gt = _as_boxes(gt, f"{name}: ground truth")
    pred = _as_boxes(pred, f"{name}: predictions")
    frames = len(gt)
    if frames == 0:
        raise DatasetError(f"{name}: the ground truth is empty")
    if visible is not None and len(visible) != frames:
        raise DatasetError(f"{name}: {len(visible)} visibility flags for {frames} ground-truth boxes")
    present = np.ones(frames, dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    pred, missing = _fit_length(pred, frames, allow_shorter and mode in ("stark", "pytracking"), name)
    gt_nan = np.isnan(gt).any(axis=1)

    if mode in ("stark", "pytracking"):
        own = ~missing
        bad = own & (np.isnan(pred).any(axis=1) | (pred[:, 2] < 0) | (pred[:, 3] < 0))
        bad[0] = False
        if bad.any():
            frames_list = ", ".join(str(i) for i in np.flatnonzero(bad)[:5])
            raise DatasetError(
                f"{name}: predictions with NaN or negative width/height at frame(s) {frames_list}; "
                f"pytracking rejects such results (use --metric-mode lasot to replace them by the previous box)"
            )
    pred[0] = gt[0]
    if mode == "got10k":
        keep = ~gt_nan
        overlap = iou_continuous(pred[keep], gt[keep])
        center = center_error(pred[keep], gt[keep])
        norm = normalized_center_error(pred[keep], gt[keep])
        return FrameErrors(overlap, center, norm, np.ones(len(overlap), dtype=bool))

    if mode == "lasot":
        invalid_pred = np.isnan(pred).any(axis=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)
    else:
        invalid_pred = ((pred[:, 2] == 0) | (pred[:, 3] == 0)) & ~missing
    pred = _fill_from_previous(pred, invalid_pred & ~gt_nan)

    with np.errstate(invalid="ignore"):
        if mode == "pytracking":
            valid = (gt > 0).all(axis=1)
        elif mode == "lasot":
            valid = ~(gt <= 0).any(axis=1) & ~gt_nan
        else:
            valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    overlap = iou_inclusive(pred, gt)
    center = center_error(pred, gt)
    norm = normalized_center_error(pred, gt)

    overlap[~valid] = -1.0
    center[~valid] = -1.0 if (invalid_center_hit or mode == "lasot") else np.inf
    norm[~valid] = -1.0
    failed = ~present | missing
    if mode == "lasot":
        failed |= gt_nan
    overlap[failed] = -1.0
    center[failed] = np.inf
    norm[failed] = np.inf
    return FrameErrors(overlap, center, norm, valid & present & ~missing)


def curves_from_errors(errors: FrameErrors) -> SequenceCurves:
    """Success, precision and normalised-precision curves of one sequence (denominator: all frames
    of ``errors``; for the got10k mode these are the frames with a ground truth)."""
    count = len(errors.overlap)
    if count == 0:
        raise DatasetError("no frame of this sequence has a ground truth to score against")
    success = (errors.overlap[:, None] > IOU_THRESHOLDS[None, :]).mean(axis=0)
    precision = (errors.center[:, None] <= CENTER_THRESHOLDS_PX[None, :]).mean(axis=0)
    norm_precision = (errors.norm_center[:, None] <= NORM_CENTER_THRESHOLDS[None, :]).mean(axis=0)
    kept = errors.overlap[errors.valid]
    mean_overlap = float(kept.mean()) if len(kept) else 0.0
    return SequenceCurves(success, precision, norm_precision, mean_overlap, count)


def ope_curves(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None, **options: Any) -> SequenceCurves:
    """Curves of one sequence under OPE; the arguments (keyword ``options``: ``mode``,
    ``invalid_center_hit``, ``allow_shorter``, ``name``) are those of :func:`ope_frame_errors`."""
    return curves_from_errors(ope_frame_errors(pred, gt, visible, **options))


@dataclass(frozen=True)
class DatasetCurves:
    """Sequence-averaged curves (every sequence weighs the same) and their scores in percent."""

    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    scores: dict[str, float]


def average_curves(curves: SequenceOf[SequenceCurves]) -> DatasetCurves:
    """Average per-sequence curves; AUC etc. of the average equal the means of the per-sequence scores."""
    if not curves:
        raise DatasetError("no sequences to average")
    success = np.mean([c.success for c in curves], axis=0)
    precision = np.mean([c.precision for c in curves], axis=0)
    norm_precision = np.mean([c.norm_precision for c in curves], axis=0)
    mean_overlap = float(np.mean([c.mean_overlap for c in curves]))
    scores = _curve_scores(success, precision, norm_precision, mean_overlap)
    return DatasetCurves(success, precision, norm_precision, scores)


def got10k_frame_ious(
    pred: np.ndarray,
    gt: np.ndarray,
    image_size: tuple[float, float],
    cover: np.ndarray | None = None,
    *,
    name: str = "sequence",
) -> np.ndarray:
    """IoUs the GOT-10k protocol keeps for one sequence: first frame dropped, both boxes clipped to
    ``image_size = (width, height)``, continuous IoU, and only frames with ``cover > 0`` (the
    target visible) when ``cover`` (per-frame cover labels 0..8) is given."""
    gt = _as_boxes(gt, f"{name}: ground truth")
    pred = _as_boxes(pred, f"{name}: predictions")
    if len(pred) != len(gt):
        raise DatasetError(f"{name}: {len(pred)} predicted boxes for {len(gt)} ground-truth frames")
    if np.isnan(pred).any():
        raise DatasetError(f"{name}: predictions contain NaN; GOT-10k scoring needs a box for every frame")
    ious = iou_continuous(clip_to_image(pred[1:], image_size), clip_to_image(gt[1:], image_size))
    if cover is not None:
        cover = np.asarray(cover)
        if len(cover) != len(gt):
            raise DatasetError(f"{name}: {len(cover)} cover labels for {len(gt)} ground-truth frames")
        ious = ious[cover[1:] > 0]
    return ious


def got10k_pooled(frame_ious: SequenceOf[np.ndarray]) -> dict[str, float | list[float]]:
    """GOT-10k AO, SR0.50, SR0.75 (percent) over the pooled frames of all sequences, and the
    101-point success curve (fractions), as the GOT-10k toolkit and server compute them."""
    if not frame_ious:
        raise DatasetError("no sequences to score")
    pooled = np.concatenate([np.asarray(i, dtype=np.float64) for i in frame_ious])
    if pooled.size == 0:
        raise DatasetError("no frame with a visible target to score")
    return {
        "ao": 100.0 * float(pooled.mean()),
        "sr50": 100.0 * float((pooled > 0.5).mean()),
        "sr75": 100.0 * float((pooled > 0.75).mean()),
        "success_curve": (pooled[:, None] > GOT10K_IOU_THRESHOLDS[None, :]).mean(axis=0).tolist(),
    }
