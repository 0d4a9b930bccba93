"""``sensor_msgs`` Image / CompressedImage messages to numpy arrays, without ROS or cv_bridge.

The functions take any object with the message's fields (duck typing): rclpy messages (``data`` is an
``array.array('B')`` or ``bytes``) as the node receives them, and ``rosbags`` messages (``data`` is a numpy
uint8 array) as the bag tools read them.

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
from typing import Any, Literal

import numpy as np

from hit_core.errors import ConfigError, DatasetError

__all__ = [
    "ImageMessageError",
    "SUPPORTED_ENCODINGS",
    "check_image",
    "compressed_to_array",
    "image_to_array",
]


class ImageMessageError(DatasetError):
    """An image message cannot be turned into a frame (bad size, step, data, encoding or compressed bytes)."""


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
    # Generic 3/4-channel images carry no channel order; like cv_bridge, take OpenCV's BGR(A).
    "8UC3": _Encoding(3, 1, "bgr", True),
    "8UC4": _Encoding(4, 1, "bgra", True),
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

_DECODE_FLAGS: dict[str, str] = {"unchanged": "IMREAD_UNCHANGED", "color": "IMREAD_COLOR"}


def check_image(msg: Any) -> None:
    """Validate a ``sensor_msgs/Image``'s metadata without touching its pixels (O(1)).

    Raises :class:`ImageMessageError` naming the offending field when the size is zero, the encoding is
    unknown, ``data`` is not a byte buffer, ``step`` is shorter than a row of pixels, or the data length is
    not ``height * step``.
    """
    _layout(msg)


def image_to_array(msg: Any) -> tuple[np.ndarray, str]:
    """Turn a ``sensor_msgs/Image`` into ``(array, color)`` for ``Tracker.track(array, color=color)``.

    For 8- and 16-bit rgb/bgr/rgba/bgra/mono (and 8UC1/3/4) encodings the array is a read-only zero-copy
    view on ``msg.data`` (H x W x C, or H x W for mono) whose row stride is ``msg.step``, so padded rows are
    skipped without copying; keep ``msg`` alive while the array is in use. A 16-bit view reads the high byte
    of each sample (``value >> 8``, honouring ``is_bigendian``). YUV 4:2:2 and Bayer encodings are converted
    to a new RGB array. Raises :class:`ImageMessageError` for invalid or unsupported messages.
    """
    encoding, height, width, step, buffer = _layout(msg)
    spec = _ENCODINGS[encoding]
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


def compressed_to_array(msg: Any, mode: Literal["unchanged", "color"] = "unchanged") -> tuple[np.ndarray, str]:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into ``(array, color)``.

    ``mode="unchanged"`` decodes as ``image_transport``'s compressed subscriber does by default
    (``cv2.IMREAD_UNCHANGED``): colour images come back as ``"bgr"`` (or ``"bgra"`` for PNG with alpha),
    the channel order the compressed publisher encodes, grayscale as ``"gray"``, EXIF orientation is ignored,
    and 16-bit PNGs keep the high byte. ``mode="color"`` decodes exactly as ``cv2.imread(path,
    cv2.IMREAD_COLOR)`` reads the same bytes from an image file (always 8-bit ``"bgr"``, EXIF orientation
    applied), which is what ``hit eval`` tracks on. Raises :class:`ImageMessageError` for empty,
    depth-compressed or undecodable data.
    """
    import cv2

    if mode not in _DECODE_FLAGS:
        raise ConfigError(f"compressed image mode must be one of {', '.join(_DECODE_FLAGS)}, got {mode!r}")
    fmt = str(msg.format)
    if "compresseddepth" in fmt.replace(" ", "").lower():
        raise ImageMessageError(
            f"compressed image format {fmt!r} is a depth image (compressedDepth); the tracker needs colour "
            f"or mono images: subscribe to the camera's colour stream"
        )
    data = _byte_buffer(msg.data)
    if data.size == 0:
        raise ImageMessageError("compressed image has no data (len(data) == 0)")
    decoded = cv2.imdecode(data, getattr(cv2, _DECODE_FLAGS[mode]))
    if decoded is None or decoded.size == 0:
        raise ImageMessageError(
            f"could not decode the compressed image ({data.size} bytes, format {fmt!r}); "
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


def _byte_buffer(data: Any) -> np.ndarray:
    """The message's ``data`` as a flat uint8 array, without a copy for every type the messages use."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageMessageError(f"image data must hold uint8 bytes, got a {data.dtype} array")
        # The strided views below address bytes from the buffer start, so they need it contiguous.
        return np.ascontiguousarray(data).reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        raise ImageMessageError(
            f"image data must be a byte buffer (bytes, array.array('B') or a numpy uint8 array), "
            f"got {type(data).__name__}"
        ) from None


def _layout(msg: Any) -> tuple[str, int, int, int, np.ndarray]:
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
    buffer = _byte_buffer(msg.data)
    if buffer.size != height * step:
        raise ImageMessageError(
            f"image data holds {buffer.size} bytes but height * step = {height} * {step} = {height * step}"
        )
    return encoding, height, width, step, buffer


def _convert_packed(encoding: str, view: np.ndarray) -> np.ndarray:
    import cv2

    if encoding in _YUV422_TO_CV:
        return cv2.cvtColor(view, getattr(cv2, f"COLOR_YUV2RGB_{_YUV422_TO_CV[encoding]}"))
    return cv2.cvtColor(view, getattr(cv2, f"COLOR_Bayer{_BAYER_TO_CV[encoding]}2RGB"))
