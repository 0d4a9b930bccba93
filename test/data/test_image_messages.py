"""sensor_msgs Image / CompressedImage messages -> numpy, on the message objects of rclpy and rosbags (no ROS).

rclpy messages hold ``data`` as ``array.array('B')`` (or ``bytes``); stand-ins with the same fields play
them here. rosbags messages (numpy uint8 ``data``) are real ones, passed through a CDR round trip as a bag
reader returns them. test/ros checks the real sensor_msgs types on top.
"""

from __future__ import annotations

import array
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from hit_core.data.image_messages import (
    SUPPORTED_ENCODINGS,
    ImageMessageError,
    check_image,
    compressed_to_array,
    image_to_array,
)
from hit_core.errors import ConfigError, DatasetError

RNG = np.random.default_rng(7)
KINDS = ("array", "bytes", "rosbags")


def _rosbags_store() -> Any:
    typesys = pytest.importorskip("rosbags.typesys", reason="the rosbags message kind needs 'rosbags'")
    return typesys.get_typestore(typesys.Stores.ROS2_JAZZY)


def _round_trip(store: Any, message: Any, msgtype: str) -> Any:
    return store.deserialize_cdr(store.serialize_cdr(message, msgtype), msgtype)


def _header(store: Any) -> Any:
    types = store.types
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam")


def image_message(kind: str, rows: np.ndarray, width: int, encoding: str, big_endian: bool = False) -> Any:
    """An Image of ``kind`` whose data are the bytes of ``rows`` (height x step)."""
    height, step = rows.shape
    raw = np.ascontiguousarray(rows, dtype=np.uint8).tobytes()
    fields = {"height": height, "width": width, "encoding": encoding, "is_bigendian": int(big_endian), "step": step}
    if kind == "rosbags":
        store = _rosbags_store()
        message = store.types["sensor_msgs/msg/Image"](
            header=_header(store), data=np.frombuffer(raw, dtype=np.uint8), **fields
        )
        return _round_trip(store, message, "sensor_msgs/msg/Image")
    return SimpleNamespace(data=array.array("B", raw) if kind == "array" else raw, **fields)


def compressed_message(kind: str, data: bytes, fmt: str) -> Any:
    if kind == "rosbags":
        store = _rosbags_store()
        message = store.types["sensor_msgs/msg/CompressedImage"](
            header=_header(store), format=fmt, data=np.frombuffer(data, dtype=np.uint8)
        )
        return _round_trip(store, message, "sensor_msgs/msg/CompressedImage")
    return SimpleNamespace(format=fmt, data=array.array("B", data) if kind == "array" else data)


def _padded(pixels: np.ndarray, encoding: str, kind: str, padding: int = 7, big_endian: bool = False) -> Any:
    """An Image whose rows carry ``padding`` junk bytes after the pixels, as drivers with aligned rows send."""
    height, width = pixels.shape[:2]
    raw = pixels.reshape(height, -1)
    if pixels.dtype == np.uint16:
        raw = pixels.astype(">u2" if big_endian else "<u2").reshape(height, -1).view(np.uint8)
    junk = RNG.integers(0, 256, size=(height, padding), dtype=np.uint8)
    return image_message(kind, np.concatenate([raw, junk], axis=1), width, encoding, big_endian)


def _bytes_of(message: Any) -> np.ndarray:
    data = message.data
    return data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("encoding", "channels", "color"),
    [("rgb8", 3, "rgb"), ("bgr8", 3, "bgr"), ("rgba8", 4, "rgba"), ("bgra8", 4, "bgra"), ("mono8", 1, "gray")]
    + [("8UC1", 1, "gray"), ("8UC3", 3, "bgr"), ("8UC4", 4, "bgra")],
)
def test_8bit_encodings_are_zero_copy_views_that_skip_row_padding(kind, encoding, channels, color):
    shape = (37, 53) if channels == 1 else (37, 53, channels)
    pixels = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    msg = _padded(pixels, encoding, kind)
    check_image(msg)
    frame, frame_color = image_to_array(msg)
    assert frame_color == color
    assert frame.shape == shape
    np.testing.assert_array_equal(frame, pixels)
    assert np.shares_memory(frame, _bytes_of(msg)), "the frame must be a view, not a copy"
    assert not frame.flags.writeable


@pytest.mark.parametrize("kind", ["array", "rosbags"])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(
    ("encoding", "channels", "color"),
    [("mono16", 1, "gray"), ("16UC1", 1, "gray"), ("rgb16", 3, "rgb"), ("bgr16", 3, "bgr")]
    + [("rgba16", 4, "rgba"), ("bgra16", 4, "bgra")],
)
def test_16bit_encodings_read_the_high_byte_without_copying(kind, encoding, channels, color, big_endian):
    shape = (9, 11) if channels == 1 else (9, 11, channels)
    pixels = RNG.integers(0, 65536, size=shape, dtype=np.uint16)
    msg = _padded(pixels, encoding, kind, padding=6, big_endian=big_endian)
    frame, frame_color = image_to_array(msg)
    assert frame_color == color
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, (pixels >> 8).astype(np.uint8))
    assert np.shares_memory(frame, _bytes_of(msg))


@pytest.mark.parametrize("kind", ["array", "rosbags"])
@pytest.mark.parametrize(
    ("encoding", "code"), [("yuv422", "UYVY"), ("uyvy", "UYVY"), ("yuv422_yuy2", "YUY2"), ("yuyv", "YUY2")]
)
def test_yuv422_is_converted_to_rgb(kind, encoding, code):
    rgb = np.zeros((16, 24, 3), dtype=np.uint8)
    rgb[:, :12] = (200, 40, 30)
    rgb[:, 12:] = (20, 180, 220)
    packed = cv2.cvtColor(rgb, getattr(cv2, f"COLOR_RGB2YUV_{code}"))
    frame, color = image_to_array(_padded(packed, encoding, kind, padding=4))
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
    frame, color = image_to_array(_padded(mosaic, f"bayer_{pattern}8", "array", padding=3))
    assert color == "rgb"
    np.testing.assert_array_equal(frame[4:8, 4:8].reshape(-1, 3).min(axis=0), [210, 90, 30])
    np.testing.assert_array_equal(frame[4:8, 4:8].reshape(-1, 3).max(axis=0), [210, 90, 30])


def test_every_supported_encoding_is_exercised_here():
    tested = {"rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3", "8UC4"}
    tested |= {"mono16", "16UC1", "rgb16", "bgr16", "rgba16", "bgra16", "yuv422", "uyvy", "yuv422_yuy2", "yuyv"}
    tested |= {f"bayer_{pattern}8" for pattern in ("rggb", "bggr", "gbrg", "grbg")}
    assert set(SUPPORTED_ENCODINGS) == tested


def _message(kind: str = "array", **fields: Any) -> Any:
    msg = image_message(kind, np.zeros((4, 15), dtype=np.uint8), 5, "rgb8")
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"width": 0, "step": 0, "data": array.array("B")}, "zero size"),
        ({"height": 0}, "zero size"),
        ({"encoding": "32FC1"}, "unsupported image encoding '32FC1'"),
        ({"encoding": ""}, "unsupported image encoding ''"),
        ({"step": 14}, "step 14 is smaller than width * bytes per pixel = 15"),
        ({"data": array.array("B", bytes(59))}, "59 bytes but height * step = 4 * 15 = 60"),
        ({"data": bytes(61)}, "61 bytes but height * step"),
        ({"data": np.zeros(61, dtype=np.uint8)}, "61 bytes but height * step"),
        ({"data": np.zeros(60, dtype=np.int16)}, "must hold uint8 bytes, got a int16 array"),
        ({"data": [0] * 60}, "must be a byte buffer"),
        ({"encoding": "yuv422", "width": 5, "step": 10, "data": bytes(40)}, "even width"),
        ({"encoding": "mono16", "step": 9, "data": bytes(36)}, "step 9 is smaller"),
    ],
)
def test_bad_messages_are_rejected_with_the_reason(fields, expected):
    msg = _message(**fields)
    with pytest.raises(ImageMessageError, match=expected.replace("*", r"\*").replace("(", r"\(")):
        check_image(msg)
    with pytest.raises(ImageMessageError):
        image_to_array(msg)


def test_bad_rosbags_messages_are_rejected_and_are_dataset_errors():
    msg = _message("rosbags")
    msg.data = msg.data[:59]
    with pytest.raises(DatasetError, match="59 bytes but height"):
        image_to_array(msg)


def test_non_contiguous_numpy_data_is_read_correctly():
    pixels = RNG.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    spread = np.zeros(120, dtype=np.uint8)
    spread[::2] = pixels.reshape(-1)
    frame, color = image_to_array(_message(data=spread[::2]))
    assert color == "rgb"
    np.testing.assert_array_equal(frame, pixels)


@pytest.mark.parametrize("kind", KINDS)
def test_png_and_jpeg_decode_in_the_compressed_publishers_channel_order(kind):
    bgr = RNG.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    png = cv2.imencode(".png", bgr)[1].tobytes()
    frame, color = compressed_to_array(compressed_message(kind, png, "bgr8; png compressed bgr8"))
    assert color == "bgr"
    np.testing.assert_array_equal(frame, bgr)

    smooth = np.zeros((32, 32, 3), dtype=np.uint8)
    smooth[:] = (30, 120, 220)
    jpeg = cv2.imencode(".jpg", smooth)[1].tobytes()
    frame, color = compressed_to_array(compressed_message(kind, jpeg, "rgb8; jpeg compressed bgr8"))
    assert color == "bgr"
    assert np.abs(frame.astype(int) - smooth).max() <= 4


@pytest.mark.parametrize("kind", ["array", "rosbags"])
def test_compressed_gray_alpha_and_16bit(kind):
    gray = RNG.integers(0, 256, size=(10, 12), dtype=np.uint8)
    msg = compressed_message(kind, cv2.imencode(".png", gray)[1].tobytes(), "mono8; png compressed")
    frame, color = compressed_to_array(msg)
    assert color == "gray"
    np.testing.assert_array_equal(frame, gray)

    bgra = RNG.integers(0, 256, size=(10, 12, 4), dtype=np.uint8)
    msg = compressed_message(kind, cv2.imencode(".png", bgra)[1].tobytes(), "bgra8; png compressed")
    frame, color = compressed_to_array(msg)
    assert color == "bgra"
    np.testing.assert_array_equal(frame, bgra)

    deep = RNG.integers(0, 65536, size=(10, 12), dtype=np.uint16)
    msg = compressed_message(kind, cv2.imencode(".png", deep)[1].tobytes(), "mono16; png compressed")
    frame, color = compressed_to_array(msg)
    assert color == "gray" and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, (deep >> 8).astype(np.uint8))


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment holding only an Orientation tag (little-endian TIFF)."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_color_mode_decodes_as_imread_does_for_image_files(tmp_path: Path):
    """mode="color" is what hit eval tracks on (cv2.imread IMREAD_COLOR), EXIF rotation included."""
    bgr = RNG.integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
    gray = RNG.integers(0, 256, size=(10, 12), dtype=np.uint8)
    deep = RNG.integers(0, 65536, size=(10, 12), dtype=np.uint16)
    bgra = RNG.integers(0, 256, size=(10, 12, 4), dtype=np.uint8)
    files = {
        "rotated.jpg": _with_exif_orientation(cv2.imencode(".jpg", bgr)[1].tobytes(), 6),
        "gray.png": cv2.imencode(".png", gray)[1].tobytes(),
        "deep.png": cv2.imencode(".png", deep)[1].tobytes(),
        "alpha.png": cv2.imencode(".png", bgra)[1].tobytes(),
    }
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        frame, color = compressed_to_array(compressed_message("array", data, path.suffix[1:]), mode="color")
        assert color == "bgr"
        np.testing.assert_array_equal(frame, cv2.imread(str(path), cv2.IMREAD_COLOR), err_msg=name)

    # EXIF orientation 6 turns the image a quarter; image_transport's default keeps the stored pixels.
    rotated = compressed_message("array", files["rotated.jpg"], "jpeg")
    assert compressed_to_array(rotated, mode="color")[0].shape == (40, 24, 3)
    assert compressed_to_array(rotated)[0].shape == (24, 40, 3)


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "jpeg", "no data"),
        (b"definitely not an image", "jpeg", "could not decode"),
        (b"\x00" * 64, "16UC1; compressedDepth png", "compressedDepth"),
    ],
)
@pytest.mark.parametrize("kind", ["array", "rosbags"])
def test_bad_compressed_images_are_rejected(kind, data, fmt, expected):
    with pytest.raises(ImageMessageError, match=expected):
        compressed_to_array(compressed_message(kind, data, fmt))


def test_unknown_decode_mode_is_a_config_error():
    png = cv2.imencode(".png", np.zeros((2, 2), dtype=np.uint8))[1].tobytes()
    with pytest.raises(ConfigError, match="mode must be one of unchanged, color"):
        compressed_to_array(compressed_message("bytes", png, "png"), mode="grey")
