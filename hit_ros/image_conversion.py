"""``sensor_msgs`` images to numpy arrays and back, without cv_bridge.

The tracker takes an H x W x C ``uint8`` array plus its channel order (``"rgb"``, ``"bgr"``, ``"rgba"``,
``"bgra"`` or ``"gray"``) and never needs a contiguous copy, so 8-bit rgb/bgr/rgba/bgra/mono images become
zero-copy views on the message buffer that honour ``step`` row padding. 16-bit images are zero-copy views too:
the view reads only the high byte of every sample. YUV 4:2:2 and 8-bit Bayer images have to be converted,
which costs one frame-sized copy; they come back as RGB.

Compressed images (``image_transport``'s ``compressed`` format, JPEG or PNG) are decoded with OpenCV into
BGR, BGRA or gray, the channel orders the compressed publisher writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hit_core.errors import HitError

__all__ = [
    "ImageMessageError",
    "SUPPORTED_ENCODINGS",
    "array_to_image",
    "check_image",
    "compressed_to_array",
    "image_to_array",
]


class ImageMessageError(HitError):
    """An image message cannot be turned into a frame (bad size, step, data length or encoding)."""


@dataclass(frozen=True)
class _Encoding:
    channels: int  # samples per pixel in the message (2 for YUV 4:2:2: one chroma, one luma byte)
    bytes_per_channel: int
    color: str  # channel order of the array handed to the tracker
    zero_copy: bool


# bayer_* names follow cv_bridge: OpenCV names a Bayer pattern after the second row's first two pixels,
# so ROS "rggb" is OpenCV "BG" (checked against a synthetic mosaic in the tests).
_BAYER_TO_CV = {"bayer_rggb8": "BG", "bayer_bggr8": "RG", "bayer_gbrg8": "GR", "bayer_grbg8": "GB"}
_YUV422_TO_CV = {"yuv422": "UYVY", "uyvy": "UYVY", "yuv422_yuy2": "YUY2", "yuyv": "YUY2"}

_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, 1, "rgb", True),
    "bgr8": _Encoding(3, 1, "bgr", True),
    "rgba8": _Encoding(4, 1, "rgba", True),
    "bgra8": _Encoding(4, 1, "bgra", True),
    "mono8": _Encoding(1, 1, "gray", True),
    "8UC1": _Encoding(1, 1, "gray", True),
    "mono16": _Encoding(1, 2, "gray", True),
    "16UC1": _Encoding(1, 2, "gray", True),
    "rgb16": _Encoding(3, 2, "rgb", True),
    "bgr16": _Encoding(3, 2, "bgr", True),
    "rgba16": _Encoding(4, 2, "rgba", True),
    "bgra16": _Encoding(4, 2, "bgra", True),
    **{name: _Encoding(2, 1, "rgb", False) for name in _YUV422_TO_CV},
    **{name: _Encoding(1, 1, "rgb", False) for name in _BAYER_TO_CV},
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)
"""Every ``sensor_msgs/Image`` encoding :func:`image_to_array` accepts."""


def check_image(msg: Any) -> None:
    """Validate a ``sensor_msgs/Image``'s metadata without touching its pixels (O(1)).

    Raises :class:`ImageMessageError` naming the offending field when the size is zero, the encoding is
    unknown, ``step`` is shorter than a row of pixels, or ``len(data)`` is not ``height * step``.
    """
    _layout(msg)


def image_to_array(msg: Any) -> tuple[np.ndarray, str]:
    """Turn a ``sensor_msgs/Image`` into ``(array, color)`` for ``Tracker.track(array, color=color)``.

    For 8- and 16-bit rgb/bgr/rgba/bgra/mono encodings the array is a read-only zero-copy view on
    ``msg.data`` (H x W x C, or H x W for mono) whose row stride is ``msg.step``, so padded rows are skipped
    without copying; keep ``msg`` alive while the array is in use. A 16-bit view reads the high byte of each
    sample (``value >> 8``, honouring ``is_bigendian``). YUV 4:2:2 and Bayer encodings are converted to a new
    RGB array. Raises :class:`ImageMessageError` for invalid or unsupported messages.
    """
    encoding, height, width, step = _layout(msg)
    spec = _ENCODINGS[encoding]
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    sample = spec.bytes_per_channel
    if sample == 2 and not msg.is_bigendian:
        buffer = buffer[1:]  # little-endian: the high byte is the second of each pair
    if spec.channels == 1:
        shape: tuple[int, ...] = (height, width)
        strides: tuple[int, ...] = (step, sample)
    else:
        shape = (height, width, spec.channels)
        strides = (step, spec.channels * sample, sample)
    view = np.lib.stride_tricks.as_strided(buffer, shape=shape, strides=strides, writeable=False)
    if spec.zero_copy:
        return view, spec.color
    return _convert_packed(encoding, view), spec.color


def compressed_to_array(msg: Any) -> tuple[np.ndarray, str]:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into ``(array, color)``.

    Colour images come back as ``"bgr"`` (or ``"bgra"`` for PNG with alpha), which is the channel order
    the ``image_transport`` compressed publisher encodes; grayscale as ``"gray"``. 16-bit PNGs keep the
    high byte. Raises :class:`ImageMessageError` for empty, depth-compressed or undecodable data.
    """
    import cv2

    fmt = str(msg.format)
    if "compresseddepth" in fmt.replace(" ", "").lower():
        raise ImageMessageError(
            f"compressed image format {fmt!r} is a depth image (compressedDepth); the tracker needs colour "
            f"or mono images: subscribe to the camera's colour stream"
        )
    if len(msg.data) == 0:
        raise ImageMessageError("compressed image has no data (len(data) == 0)")
    decoded = cv2.imdecode(np.frombuffer(msg.data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise ImageMessageError(
            f"could not decode the compressed image ({len(msg.data)} bytes, format {fmt!r}); "
            f"only JPEG and PNG data are supported"
        )
    if decoded.dtype == np.uint16:
        decoded = (decoded >> 8).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        raise ImageMessageError(f"compressed image decodes to {decoded.dtype}; only 8- and 16-bit images are supported")
    if decoded.ndim == 2:
        return decoded, "gray"
    colors = {1: "gray", 3: "bgr", 4: "bgra"}
    channels = decoded.shape[2]
    if channels not in colors:
        raise ImageMessageError(f"compressed image decodes to {channels} channels; expected 1, 3 or 4")
    return decoded, colors[channels]


def array_to_image(array: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Build a ``sensor_msgs/Image`` from an H x W x C (or H x W) uint8 array (one copy of the pixels).

    ``encoding`` must be one of rgb8, bgr8, rgba8, bgra8, mono8 and must match the channel count; the
    message is tightly packed (``step = width * channels``). ``header`` (``std_msgs/Header``) is copied
    in when given. Used by publishers such as tests, benchmarks and bag players.
    """
    import array as pyarray

    from sensor_msgs.msg import Image

    spec = _ENCODINGS.get(encoding)
    if spec is None or not spec.zero_copy or spec.bytes_per_channel != 1:
        raise ImageMessageError(f"array_to_image supports rgb8, bgr8, rgba8, bgra8 and mono8, not {encoding!r}")
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ImageMessageError(f"array_to_image needs a uint8 array, got {array.dtype}")
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else -1)
    if channels != spec.channels:
        raise ImageMessageError(
            f"array of shape {array.shape} does not fit encoding {encoding!r} ({spec.channels} channel(s))"
        )
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = pyarray.array("B", np.ascontiguousarray(array).tobytes())
    return msg


def _layout(msg: Any) -> tuple[str, int, int, int]:
    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageMessageError(f"image has zero size (width={width}, height={height})")
    spec = _ENCODINGS.get(encoding)
    if spec is None:
        raise ImageMessageError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    if encoding in _YUV422_TO_CV and width % 2:
        raise ImageMessageError(f"{encoding} image must have an even width, got {width}")
    row_bytes = width * spec.channels * spec.bytes_per_channel
    if step < row_bytes:
        raise ImageMessageError(
            f"{encoding} image step {step} is smaller than width * bytes per pixel = {row_bytes}"
        )
    data_length = len(msg.data)
    if data_length != height * step:
        raise ImageMessageError(
            f"image data holds {data_length} bytes but height * step = {height} * {step} = {height * step}"
        )
    return encoding, height, width, step


def _convert_packed(encoding: str, view: np.ndarray) -> np.ndarray:
    import cv2

    if encoding in _YUV422_TO_CV:
        return cv2.cvtColor(view, getattr(cv2, f"COLOR_YUV2RGB_{_YUV422_TO_CV[encoding]}"))
    return cv2.cvtColor(view, getattr(cv2, f"COLOR_Bayer{_BAYER_TO_CV[encoding]}2RGB"))

