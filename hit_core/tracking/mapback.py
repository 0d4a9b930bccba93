"""From the network's normalised box back to image pixels, then clipped: the official arithmetic.

Both steps are bit-exact with the official tracker (verified on every row of the parity
fixtures). The float32 scaling step and the float64 re-centring are not interchangeable:
doing the scaling in float64 changes the last bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SEARCH_SIZE = 256
CLIP_MARGIN = 10


def scale_prediction(pred_norm: np.ndarray, resize_factor: float, search_size: int = SEARCH_SIZE) -> np.ndarray:
    """Network box (cx, cy, w, h)/search_size -> image-scale (cx, cy, w, h), centre still crop-relative.

    Computed in float32 as the official code does (``pred * 256 / resize_factor`` with the
    factor rounded to float32), returned as float64 (4,).
    """
    pred = np.asarray(pred_norm, dtype=np.float32).reshape(4)
    scaled = pred * np.float32(search_size) / np.float32(resize_factor)
    return scaled.astype(np.float64)


def map_box_back(
    state: Sequence[float],
    pred_image: Sequence[float],
    resize_factor: float,
    search_size: int = SEARCH_SIZE,
) -> tuple[float, float, float, float]:
    """Place an image-scale prediction (from :func:`scale_prediction`) into the frame.

    ``state``: the box (x, y, w, h) the search crop was centred on. The crop's centre is
    taken as the state's exact float centre (not the rounded crop origin), and half the
    crop side as ``0.5 * search_size / resize_factor``, as the official tracker does.
    Returns (x, y, w, h) in image pixels, unclipped, float64.
    """
    x, y, w, h = (float(value) for value in state)
    cx, cy, pw, ph = (float(value) for value in pred_image)
    half_side = 0.5 * search_size / resize_factor
    cx_image = cx + ((x + 0.5 * w) - half_side)
    cy_image = cy + ((y + 0.5 * h) - half_side)
    return (cx_image - 0.5 * pw, cy_image - 0.5 * ph, pw, ph)


def clip_box(
    box: Sequence[float], height: int, width: int, margin: int = CLIP_MARGIN
) -> tuple[float, float, float, float]:
    """Keep a box (x, y, w, h) inside an image, at least ``margin`` pixels wide and high.

    Official ``clip_box``: right/bottom edges are computed first, the top-left corner is
    clamped to [0, W - margin], the right edge to [margin, W], and the size is raised to at
    least ``margin`` (so the result may extend past the right/bottom border by design).
    """
    x, y, w, h = (float(value) for value in box)
    x2 = x + w
    y2 = y + h
    x1 = min(max(0.0, x), float(width - margin))
    x2 = min(max(float(margin), x2), float(width))
    y1 = min(max(0.0, y), float(height - margin))
    y2 = min(max(float(margin), y2), float(height))
    return (x1, y1, max(float(margin), x2 - x1), max(float(margin), y2 - y1))
