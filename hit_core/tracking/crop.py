"""The official square crop (``sample_target``), bit for bit, without copying the frame.

The official tracker cuts a square of side ``ceil(sqrt(w*h) * factor)`` centred on the
box, pads what lies outside the image with black and resizes it with ``cv2.resize``
(bilinear). This module reproduces that exactly, including its quirks:

* the top-left corner is ``round(x + w/2 - side/2)`` with Python's round-half-to-even;
* the right/bottom padding is ``max(x2 - W + 1, 0)``: a crop that ends exactly at the
  image border gets its last column/row replaced by a black pixel;
* for a crop entirely outside the image, numpy reads a negative slice end from the far
  side (or gets an empty slice), giving a non-square patch that the resize then stretches;
* a side below one pixel is refused (the official "Too small bounding box").

Only the needed region of the frame is read: the slice is a view, padding is applied to
that small patch only, and the colour order is converted to RGB on the resized crop
(per-pixel channel conversion commutes with zero padding and per-channel resizing), so
the full frame is never copied whatever its strides or colour order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hit_core.errors import ConfigError

COLOR_ORDERS: tuple[str, ...] = ("rgb", "bgr", "rgba", "bgra", "gray")
_CHANNELS = {"rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4}


def check_frame(frame: np.ndarray, color: str) -> np.ndarray:
    """Validate an image and return it as a view the crop can read (never a copy).

    ``frame``: H x W x C uint8 array, any strides; C = 3 for "rgb"/"bgr", 4 for
    "rgba"/"bgra"; "gray" accepts H x W or H x W x 1 (returned as H x W).
    """
    if color not in COLOR_ORDERS:
        raise ConfigError(f"unknown colour order {color!r}; choose one of {', '.join(COLOR_ORDERS)}")
    if not isinstance(frame, np.ndarray):
        raise ConfigError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ConfigError(f"frame must be uint8 (8-bit image), got {frame.dtype}; convert it before tracking")
    if color == "gray":
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        if frame.ndim != 2:
            raise ConfigError(f"a gray frame must be H x W or H x W x 1, got shape {frame.shape}")
    elif frame.ndim != 3 or frame.shape[2] != _CHANNELS[color]:
        raise ConfigError(
            f"a {color} frame must be H x W x {_CHANNELS[color]}, got shape {frame.shape}; "
            f"pass the matching color= ({', '.join(COLOR_ORDERS)})"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ConfigError(f"frame is empty (shape {frame.shape})")
    return frame


def crop_side(box: Sequence[float], factor: float) -> int:
    """Side in pixels of the square crop around ``box`` (x, y, w, h): ``ceil(sqrt(w*h) * factor)``.

    Evaluated in float64 in exactly this order, as the official code does (the order
    matters: e.g. sqrt(6.25 * 4.41) * 4 is exactly 21.0 in float64).
    """
    width, height = float(box[2]), float(box[3])
    area = width * height
    if not (math.isfinite(area) and area >= 0 and math.isfinite(factor) and factor > 0):
        raise ConfigError(
            f"cannot crop around a box of size {width} x {height} with factor {factor}: "
            f"width, height and factor must be finite and positive"
        )
    side = math.ceil(math.sqrt(area) * factor)
    if side < 1:
        raise ConfigError(
            f"too small bounding box: w={width}, h={height} gives a crop side of {side} px; "
            f"give a box of at least one pixel area"
        )
    return side


def crop_window(box: Sequence[float], factor: float) -> tuple[int, int, int]:
    """``(x1, y1, side)`` in image pixels of the square crop cut around ``box`` = (x, y, w, h).

    ``side`` is :func:`crop_side`; the top-left corner is ``round(x + w/2 - side/2)`` (and
    likewise for y) with Python's round-half-to-even, as the official code. The window may
    reach outside the image (that part is padded when cropping).
    """
    x, y, w, h = (float(value) for value in box)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ConfigError(f"cannot crop around box {tuple(box)}: x and y must be finite numbers")
    side = crop_side((x, y, w, h), factor)
    return round(x + 0.5 * w - side * 0.5), round(y + 0.5 * h - side * 0.5), side


def _to_rgb(crop: np.ndarray, color: str) -> np.ndarray:
    import cv2

    if color == "rgb":
        return crop
    code = {
        "bgr": cv2.COLOR_BGR2RGB,
        "rgba": cv2.COLOR_RGBA2RGB,
        "bgra": cv2.COLOR_BGRA2RGB,
        "gray": cv2.COLOR_GRAY2RGB,
    }[color]
    return cv2.cvtColor(crop, code)


def sample_target(
    frame: np.ndarray,
    box: Sequence[float],
    factor: float,
    output_size: int | None = None,
    color: str = "rgb",
) -> tuple[np.ndarray, float]:
    """Official crop around ``box`` = (x, y, w, h) in image pixels.

    Returns ``(crop, resize_factor)``: ``crop`` is uint8 RGB, ``output_size`` x
    ``output_size`` x 3 (C-contiguous), or the padded patch before resizing when
    ``output_size`` is None (then ``resize_factor`` is 1.0); ``resize_factor`` =
    ``output_size / side`` (crop pixels per image pixel). ``frame`` must already be
    validated by :func:`check_frame` for ``color``.
    """
    import cv2

    x1, y1, side = crop_window(box, factor)
    height, width = frame.shape[:2]
    x2 = x1 + side
    y2 = y1 + side
    pad_left = max(0, -x1)
    pad_right = max(x2 - width + 1, 0)
    pad_top = max(0, -y1)
    pad_bottom = max(y2 - height + 1, 0)
    # Plain numpy slicing, exactly as the official code: it is a view, and it is what
    # produces the official results for crops partly or entirely outside the image.
    patch = frame[y1 + pad_top : y2 - pad_bottom, x1 + pad_left : x2 - pad_right]
    if pad_left or pad_right or pad_top or pad_bottom:
        patch = cv2.copyMakeBorder(patch, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT, value=0)
    if output_size is None:
        return np.ascontiguousarray(_to_rgb(patch, color)), 1.0
    resized = cv2.resize(patch, (output_size, output_size), interpolation=cv2.INTER_LINEAR)
    return _to_rgb(resized, color), output_size / side
