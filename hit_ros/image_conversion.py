"""numpy arrays to ``sensor_msgs/Image``, without cv_bridge.

The other direction (Image / CompressedImage to a zero-copy array and its channel order) needs no ROS and
lives in :mod:`hit_core.data.image_messages`, shared with the bag tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hit_core.data.image_messages import ImageMessageError

__all__ = ["array_to_image"]

# Encodings an array can be packed into, with their channel counts.
_ARRAY_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def array_to_image(array: np.ndarray, encoding: str, header: Any = None) -> Any:
    """Build a ``sensor_msgs/Image`` from an H x W x C (or H x W) uint8 array (one copy of the pixels).

    ``encoding`` must be one of rgb8, bgr8, rgba8, bgra8, mono8 and must match the channel count; the
    message is tightly packed (``step = width * channels``). ``header`` (``std_msgs/Header``) is copied
    in when given. Used by publishers such as tests, benchmarks and bag players.
    """
    import array as pyarray

    from sensor_msgs.msg import Image

    expected_channels = _ARRAY_ENCODINGS.get(encoding)
    if expected_channels is None:
        raise ImageMessageError(f"array_to_image supports {', '.join(_ARRAY_ENCODINGS)}, not {encoding!r}")
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ImageMessageError(f"array_to_image needs a uint8 array, got {array.dtype}")
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else -1)
    if channels != expected_channels:
        raise ImageMessageError(
            f"array of shape {array.shape} does not fit encoding {encoding!r} ({expected_channels} channel(s))"
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
