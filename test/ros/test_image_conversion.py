"""numpy -> sensor_msgs Image (array_to_image) and back with the real sensor_msgs types (no cv_bridge).

The decoding itself (every encoding, padding, compressed images, malformed messages) is tested without ROS
in test/data/test_image_messages.py; here it is checked on the message types the node receives.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

sensor_msgs = pytest.importorskip("sensor_msgs.msg", reason="sensor_msgs (ROS 2 Python messages) is not installed")

from hit_core.data.image_messages import ImageMessageError, compressed_to_array, image_to_array  # noqa: E402
from hit_ros.image_conversion import array_to_image  # noqa: E402

RNG = np.random.default_rng(7)


def test_real_messages_decode_as_views_on_their_buffers():
    pixels = RNG.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    rows = np.concatenate([pixels.reshape(5, -1), np.zeros((5, 2), dtype=np.uint8)], axis=1)
    msg = sensor_msgs.Image(height=5, width=6, encoding="rgb8", step=20)
    msg.data = rows.tobytes()  # rclpy stores uint8[] as array.array('B') whatever it is given
    assert isinstance(msg.data, array.array)
    frame, color = image_to_array(msg)
    assert color == "rgb"
    np.testing.assert_array_equal(frame, pixels)
    assert np.shares_memory(frame, np.frombuffer(msg.data, dtype=np.uint8))

    compressed = sensor_msgs.CompressedImage(format="bgr8; png compressed bgr8")
    compressed.data = cv2.imencode(".png", pixels)[1].tobytes()
    frame, color = compressed_to_array(compressed)
    assert color == "bgr"
    np.testing.assert_array_equal(frame, pixels)


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
