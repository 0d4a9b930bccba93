"""sensor_msgs Image / CompressedImage <-> numpy with real sensor_msgs types (no cv_bridge)."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS 2 Python messages) is not installed")

from hit_ros.image_conversion import (  # noqa: E402
    ImageMessageError,
    array_to_image,
    check_image,
    compressed_to_array,
    image_to_array,
)

RNG = np.random.default_rng(7)


def _padded_message(pixels: np.ndarray, encoding: str, padding: int = 7, big_endian: bool = False):
    """An Image whose rows carry `padding` junk bytes after the pixels, as drivers with aligned rows send."""
    height, width = pixels.shape[:2]
    raw = pixels.reshape(height, -1)
    if pixels.dtype == np.uint16:
        raw = pixels.astype(">u2" if big_endian else "<u2").reshape(height, -1).view(np.uint8)
    junk = RNG.integers(0, 256, size=(height, padding), dtype=np.uint8)
    rows = np.concatenate([raw.view(np.uint8), junk], axis=1)
    msg = sensor_msgs.Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian))
    msg.step = rows.shape[1]
    msg.data = array.array("B", rows.tobytes())
    return msg


@pytest.mark.parametrize(
    ("encoding", "channels", "color"),
    [("rgb8", 3, "rgb"), ("bgr8", 3, "bgr"), ("rgba8", 4, "rgba"), ("bgra8", 4, "bgra"), ("mono8", 1, "gray")],
)
def test_8bit_encodings_are_zero_copy_views_that_skip_row_padding(encoding, channels, color):
    shape = (37, 53) if channels == 1 else (37, 53, channels)
    pixels = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    msg = _padded_message(pixels, encoding)
    frame, frame_color = image_to_array(msg)
    assert frame_color == color
    assert frame.shape == shape
    np.testing.assert_array_equal(frame, pixels)
    assert np.shares_memory(frame, np.frombuffer(msg.data, dtype=np.uint8)), "the frame must be a view, not a copy"
    assert not frame.flags.writeable


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(
    ("encoding", "channels", "color"),
    [("mono16", 1, "gray"), ("rgb16", 3, "rgb"), ("bgr16", 3, "bgr"), ("rgba16", 4, "rgba"), ("bgra16", 4, "bgra")],
)
def test_16bit_encodings_read_the_high_byte_without_copying(encoding, channels, color, big_endian):
    shape = (9, 11) if channels == 1 else (9, 11, channels)
    pixels = RNG.integers(0, 65536, size=shape, dtype=np.uint16)
    msg = _padded_message(pixels, encoding, padding=6, big_endian=big_endian)
    frame, frame_color = image_to_array(msg)
    assert frame_color == color
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, (pixels >> 8).astype(np.uint8))
    assert np.shares_memory(frame, np.frombuffer(msg.data, dtype=np.uint8))


@pytest.mark.parametrize(("encoding", "code"), [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuv422_yuy2", "YUY2")])
def test_yuv422_is_converted_to_rgb(encoding, code):
    rgb = np.zeros((16, 24, 3), dtype=np.uint8)
    rgb[:, :12] = (200, 40, 30)
    rgb[:, 12:] = (20, 180, 220)
    packed = cv2.cvtColor(rgb, getattr(cv2, f"COLOR_RGB2YUV_{code}"))
    frame, color = image_to_array(_padded_message(packed, encoding, padding=4))
    assert color == "rgb"
    np.testing.assert_array_equal(frame, cv2.cvtColor(packed, getattr(cv2, f"COLOR_YUV2RGB_{code}")))
    assert np.abs(frame.astype(int) - rgb).max() <= 3, "a solid colour must survive the YUV round trip"


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_demosaic_to_the_right_colours(pattern):
    """A solid colour mosaicked with the named 2x2 pattern must demosaic to that colour (checks the mapping)."""
    colour = {"r": 210, "g": 90, "b": 30}
    mosaic = np.zeros((12, 16), dtype=np.uint8)
    for index, channel in enumerate(pattern):
        row, col = divmod(index, 2)
        mosaic[row::2, col::2] = colour[channel]
    frame, color = image_to_array(_padded_message(mosaic, f"bayer_{pattern}8", padding=3))
    assert color == "rgb"
    np.testing.assert_array_equal(frame[4:8, 4:8].reshape(-1, 3).min(axis=0), [210, 90, 30])
    np.testing.assert_array_equal(frame[4:8, 4:8].reshape(-1, 3).max(axis=0), [210, 90, 30])


def _message(**fields):
    msg = sensor_msgs.Image(height=4, width=5, encoding="rgb8", step=15)
    msg.data = array.array("B", bytes(60))
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"width": 0, "step": 0, "data": array.array("B")}, "zero size"),
        ({"height": 0}, "zero size"),
        ({"encoding": "8UC3"}, "unsupported image encoding '8UC3'"),
        ({"encoding": ""}, "unsupported image encoding ''"),
        ({"step": 14}, "step 14 is smaller than width * bytes per pixel = 15"),
        ({"data": array.array("B", bytes(59))}, "59 bytes but height * step = 4 * 15 = 60"),
        ({"data": array.array("B", bytes(61))}, "61 bytes but height * step"),
        ({"encoding": "yuv422", "width": 5, "step": 10, "data": array.array("B", bytes(40))}, "even width"),
        ({"encoding": "mono16", "step": 9, "data": array.array("B", bytes(36))}, "step 9 is smaller"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(fields, expected):
    msg = _message(**fields)
    with pytest.raises(ImageMessageError, match=expected.replace("*", r"\*").replace("(", r"\(")):
        check_image(msg)
    with pytest.raises(ImageMessageError):
        image_to_array(msg)


def _compressed(data: bytes, fmt: str):
    msg = sensor_msgs.CompressedImage(format=fmt)
    msg.data = array.array("B", data)
    return msg


def test_png_and_jpeg_decode_in_the_compressed_publishers_channel_order():
    bgr = RNG.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    frame, color = compressed_to_array(_compressed(cv2.imencode(".png", bgr)[1].tobytes(), "bgr8; png compressed bgr8"))
    assert color == "bgr"
    np.testing.assert_array_equal(frame, bgr)

    smooth = np.zeros((32, 32, 3), dtype=np.uint8)
    smooth[:] = (30, 120, 220)
    frame, color = compressed_to_array(
        _compressed(cv2.imencode(".jpg", smooth)[1].tobytes(), "rgb8; jpeg compressed bgr8")
    )
    assert color == "bgr"
    assert np.abs(frame.astype(int) - smooth).max() <= 4


def test_compressed_gray_alpha_and_16bit():
    gray = RNG.integers(0, 256, size=(10, 12), dtype=np.uint8)
    frame, color = compressed_to_array(_compressed(cv2.imencode(".png", gray)[1].tobytes(), "mono8; png compressed"))
    assert color == "gray"
    np.testing.assert_array_equal(frame, gray)

    bgra = RNG.integers(0, 256, size=(10, 12, 4), dtype=np.uint8)
    frame, color = compressed_to_array(_compressed(cv2.imencode(".png", bgra)[1].tobytes(), "bgra8; png compressed"))
    assert color == "bgra"
    np.testing.assert_array_equal(frame, bgra)

    deep = RNG.integers(0, 65536, size=(10, 12), dtype=np.uint16)
    frame, color = compressed_to_array(_compressed(cv2.imencode(".png", deep)[1].tobytes(), "mono16; png compressed"))
    assert color == "gray" and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, (deep >> 8).astype(np.uint8))


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "jpeg", "no data"),
        (b"definitely not an image", "jpeg", "could not decode"),
        (b"\x00" * 64, "16UC1; compressedDepth png", "compressedDepth"),
    ],
)
def test_bad_compressed_images_are_rejected(data, fmt, expected):
    with pytest.raises(ImageMessageError, match=expected):
        compressed_to_array(_compressed(data, fmt))


def test_array_to_image_round_trips_and_checks_its_input():
    from std_msgs.msg import Header

    pixels = RNG.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = array_to_image(pixels[:, ::-1], "bgr8", header)  # a non-contiguous view is packed on the way
    assert (msg.height, msg.width, msg.step, msg.encoding) == (6, 7, 21, "bgr8")
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("camera", 12, 345)
    frame, color = image_to_array(msg)
    assert color == "bgr"
    np.testing.assert_array_equal(frame, pixels[:, ::-1])
    gray = array_to_image(pixels[..., 0], "mono8")
    np.testing.assert_array_equal(image_to_array(gray)[0], pixels[..., 0])

    with pytest.raises(ImageMessageError, match="does not fit encoding 'rgba8'"):
        array_to_image(pixels, "rgba8")
    with pytest.raises(ImageMessageError, match="needs a uint8 array"):
        array_to_image(pixels.astype(np.float32), "rgb8")
    with pytest.raises(ImageMessageError, match="not 'yuv422'"):
        array_to_image(pixels, "yuv422")
