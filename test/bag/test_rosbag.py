"""Bags from sequences and back, and reading bags recorded elsewhere (no ROS needed)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the bag tools need the 'rosbags' package (pip install rosbags)")

from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer  # noqa: E402

from hit_core.data.folder import load_sequence_dir  # noqa: E402
from hit_core.data.sequence import Sequence  # noqa: E402
from hit_core.errors import ConfigError, DatasetError  # noqa: E402
from hit_core.eval import rosbag  # noqa: E402


@pytest.fixture(scope="module")
def crossing(repo_root: Path) -> Sequence:
    return load_sequence_dir(repo_root / "hit_core" / "assets" / "sequences" / "Crossing", "Crossing")


def _decoded_rgb(frame: rosbag.BagFrame) -> np.ndarray:
    order = {"rgb": [0, 1, 2], "bgr": [2, 1, 0]}[frame.color]
    return frame.image[:, :, order]


@pytest.mark.parametrize(
    ("storage", "compressed", "encoding"),
    [("mcap", False, "bgr8"), ("sqlite3", False, "rgb8"), ("mcap", True, "bgr8")],
)
def test_round_trip_gives_identical_frames_boxes_and_stamps(
    crossing: Sequence, tmp_path: Path, storage: str, compressed: bool, encoding: str
) -> None:
    path = rosbag.write_sequence_bag(
        crossing, tmp_path / "crossing", rate_hz=25.0, storage=storage, compressed=compressed, encoding=encoding
    )
    assert (path / "metadata.yaml").is_file()
    assert not list(tmp_path.glob(".*partial*")), "the scratch folder must be removed after writing"
    with rosbag.open_tracking_bag(path) as bag:
        assert bag.name == "Crossing"
        assert bag.rate_hz == 25.0
        assert bag.image_topic == ("/camera/image_raw/compressed" if compressed else "/camera/image_raw")
        assert bag.ground_truth_topic == "/ground_truth"
        assert {t.name: t.count for t in bag.topics} == {
            bag.image_topic: 120,
            "/camera/camera_info": 120,
            "/ground_truth": 120,
        }
        # Crossing's boxes are integers, so centre + size converts back without rounding.
        np.testing.assert_array_equal(bag.ground_truth, crossing.ground_truth)
        expected_stamps = rosbag.DEFAULT_START_NS + np.round(np.arange(120) * 1e9 / 25.0).astype(np.int64)
        np.testing.assert_array_equal(bag.stamps_ns, expected_stamps)
        count = 0
        for frame in bag.frames():
            assert frame.stamp_ns == expected_stamps[frame.index]
            np.testing.assert_array_equal(_decoded_rgb(frame), crossing.frame(frame.index))
            count += 1
        assert count == 120


def test_decimal_and_missing_boxes_survive_the_round_trip(crossing: Sequence, tmp_path: Path) -> None:
    truth = crossing.ground_truth[:5].copy()
    truth[1] = [200.33, 150.125, 17.7, 49.01]
    truth[3] = np.nan
    short = Sequence("decimal", "folder", crossing.frames[:5], truth)
    with rosbag.open_tracking_bag(rosbag.write_sequence_bag(short, tmp_path / "b")) as bag:
        assert np.isnan(bag.ground_truth[3]).all()
        finite = ~np.isnan(truth).any(axis=1)
        # x -> x + w/2 -> x can move by one float64 rounding step for non-integer boxes.
        np.testing.assert_allclose(bag.ground_truth[finite], truth[finite], rtol=0, atol=1e-12)


def test_existing_output_is_protected(crossing: Sequence, tmp_path: Path) -> None:
    short = Sequence("s", "folder", crossing.frames[:2], crossing.ground_truth[:2])
    path = rosbag.write_sequence_bag(short, tmp_path / "b")
    with pytest.raises(ConfigError, match="--overwrite"):
        rosbag.write_sequence_bag(short, path)
    rosbag.write_sequence_bag(short, path, overwrite=True)
    other = tmp_path / "not_a_bag"
    other.mkdir()
    with pytest.raises(ConfigError, match="not a rosbag2 folder"):
        rosbag.write_sequence_bag(short, other, overwrite=True)


def test_invalid_write_options_are_rejected(crossing: Sequence, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rate"):
        rosbag.write_sequence_bag(crossing, tmp_path / "a", rate_hz=0)
    with pytest.raises(ConfigError, match="storage"):
        rosbag.write_sequence_bag(crossing, tmp_path / "a", storage="db3")
    with pytest.raises(ConfigError, match="encoding"):
        rosbag.write_sequence_bag(crossing, tmp_path / "a", encoding="mono8")


# ----------------------------------------------------------------------------- foreign bags


def _header(store, stamp_ns: int, frame_id: str = "cam"):
    types = store.types
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id=frame_id,
    )


def _padded_image(store, stamp_ns: int, pixels: np.ndarray, encoding: str, padding: int):
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1)
    step = row.shape[1] + padding
    data = np.zeros((height, step), dtype=np.uint8)
    data[:, : row.shape[1]] = row
    return store.types["sensor_msgs/msg/Image"](
        header=_header(store, stamp_ns),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=data.reshape(-1),
    )


def _detection(store, stamp_ns: int, box: np.ndarray):
    types = store.types
    cx, cy, w, h = rosbag.box_to_center(box)
    return types["vision_msgs/msg/Detection2D"](
        header=_header(store, stamp_ns),
        results=[],
        bbox=types["vision_msgs/msg/BoundingBox2D"](
            center=types["vision_msgs/msg/Pose2D"](position=types["vision_msgs/msg/Point2D"](x=cx, y=cy), theta=0.0),
            size_x=w,
            size_y=h,
        ),
        id="",
    )


def _foreign_bag(path: Path, crossing: Sequence) -> list[int]:
    """A zstd-compressed SQLite3 bag as a robot might record it: two cameras (one with padded
    rows, one mono), a compressed stream, Detection2D ground truth on a custom topic that
    misses frame 2 and has one stamp matching no image."""
    store = rosbag.typestore()
    stamps = [1_000_000_000 + i * 50_000_000 for i in range(4)]
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3)
    writer.set_compression(CompressionMode.MESSAGE, CompressionFormat.ZSTD)
    with writer:
        front = writer.add_connection("/front/color", "sensor_msgs/msg/Image", typestore=store)
        mono = writer.add_connection("/down/mono", "sensor_msgs/msg/Image", typestore=store)
        jpeg = writer.add_connection("/front/color/compressed", "sensor_msgs/msg/CompressedImage", typestore=store)
        truth = writer.add_connection("/labels/target", "vision_msgs/msg/Detection2D", typestore=store)
        for i, stamp in enumerate(stamps):
            bgr = np.ascontiguousarray(crossing.frame(i)[:, :, ::-1])
            writer.write(front, stamp, store.serialize_cdr(_padded_image(store, stamp, bgr, "bgr8", 7), front.msgtype))
            gray = np.ascontiguousarray(crossing.frame(i)[:, :, 1])
            writer.write(mono, stamp, store.serialize_cdr(_padded_image(store, stamp, gray, "mono8", 3), mono.msgtype))
            image = store.types["sensor_msgs/msg/CompressedImage"](
                header=_header(store, stamp), format="jpeg", data=np.fromfile(crossing.frames[i], dtype=np.uint8)
            )
            writer.write(jpeg, stamp, store.serialize_cdr(image, jpeg.msgtype))
            if i != 2:
                detection = _detection(store, stamp, crossing.ground_truth[i])
                writer.write(truth, stamp, store.serialize_cdr(detection, truth.msgtype))
        stray = _detection(store, stamps[-1] + 1, crossing.ground_truth[0])
        writer.write(truth, stamps[-1] + 1, store.serialize_cdr(stray, truth.msgtype))
    return stamps


def test_foreign_bag_topics_and_types_are_chosen_by_options(crossing: Sequence, tmp_path: Path) -> None:
    path = tmp_path / "robot"
    stamps = _foreign_bag(path, crossing)
    with pytest.raises(ConfigError, match="several image topics.*--image-topic"):
        rosbag.open_tracking_bag(path)
    with pytest.raises(ConfigError, match="no topic /nope; its topics: .*/front/color"):
        rosbag.open_tracking_bag(path, image_topic="/nope")
    with pytest.raises(ConfigError, match="has type vision_msgs/msg/Detection2D"):
        rosbag.open_tracking_bag(path, image_topic="/labels/target")

    with rosbag.open_tracking_bag(path, image_topic="/front/color") as bag:
        assert bag.ground_truth_topic == "/labels/target"
        np.testing.assert_array_equal(bag.stamps_ns, stamps)
        assert bag.unmatched_ground_truth == 1
        assert np.isnan(bag.ground_truth[2]).all()
        np.testing.assert_array_equal(bag.ground_truth[[0, 1, 3]], crossing.ground_truth[[0, 1, 3]])
        assert bag.rate_hz == pytest.approx(20.0)
        for frame in bag.frames():
            assert frame.color == "bgr"
            # A view on the padded message rows (stride = step), not a compacted copy.
            assert frame.image.strides[0] == 360 * 3 + 7
            np.testing.assert_array_equal(_decoded_rgb(frame), crossing.frame(frame.index))

    with rosbag.open_tracking_bag(path, image_topic="/down/mono") as bag:
        for frame in bag.frames():
            assert frame.color == "gray" and frame.image.shape == (240, 360)
            np.testing.assert_array_equal(frame.image, crossing.frame(frame.index)[:, :, 1])

    # The files offline evaluation tracks on decode to the same pixels (cv2.imread, BGR).
    import cv2

    from hit_core.eval.rosbag_eval import write_bag_frames

    for topic, expected in (
        ("/front/color", lambda rgb: rgb[:, :, ::-1]),
        ("/down/mono", lambda rgb: rgb[:, :, [1, 1, 1]]),
    ):
        with rosbag.open_tracking_bag(path, image_topic=topic) as bag:
            files = write_bag_frames(bag, tmp_path / topic.strip("/").replace("/", "_"))
        assert len(files) == 4
        for index, file in enumerate(files):
            np.testing.assert_array_equal(cv2.imread(str(file), cv2.IMREAD_COLOR), expected(crossing.frame(index)))

    with rosbag.open_tracking_bag(path, image_topic="/front/color/compressed") as bag:
        for frame in bag.frames():
            np.testing.assert_array_equal(_decoded_rgb(frame), crossing.frame(frame.index))


def test_missing_bag_and_missing_ground_truth_topic(tmp_path: Path, crossing: Sequence) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        rosbag.open_tracking_bag(tmp_path / "absent")
    store = rosbag.typestore()
    path = tmp_path / "images_only"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/cam", "sensor_msgs/msg/Image", typestore=store)
        rgb = crossing.frame(0)
        writer.write(conn, 5, store.serialize_cdr(_padded_image(store, 5, rgb, "rgb8", 0), conn.msgtype))
    with rosbag.open_tracking_bag(path) as bag:
        assert bag.ground_truth_topic is None and np.isnan(bag.ground_truth).all()
    with pytest.raises(ConfigError, match="no topic /ground_truth"):
        rosbag.open_tracking_bag(path, ground_truth_topic="/ground_truth")


def test_image_messages_that_cannot_be_tracked_fail_as_dataset_errors(crossing: Sequence) -> None:
    """The decoding itself is tested in test/data/test_image_messages.py; here: the bag-facing errors."""
    store = rosbag.typestore()
    image = _padded_image(store, 0, crossing.frame(0), "rgb8", 0)
    image.encoding = "yuv420"
    with pytest.raises(DatasetError, match=re.escape("unsupported image encoding 'yuv420'")):
        rosbag.image_from_message(image, "sensor_msgs/msg/Image")
    with pytest.raises(DatasetError, match="sensor_msgs/msg/CameraInfo is not an image type"):
        rosbag.image_from_message(image, "sensor_msgs/msg/CameraInfo")


def test_typestore_registers_the_shipped_vision_msgs_definitions_field_for_field(repo_root: Path) -> None:
    """The .msg files in hit_core (which also generate the test ROS package) are what the type store holds."""
    folder = repo_root / "hit_core" / "interfaces" / "vision_msgs" / "msg"
    files = {p.stem: p for p in folder.glob("*.msg")}
    definitions = rosbag.vision_msgs_definitions()
    store = rosbag.typestore()
    registered = {name.rsplit("/", 1)[1] for name in store.fielddefs if name.startswith("vision_msgs/msg/")}
    assert set(files) == set(definitions) == registered
    for name, path in files.items():
        assert definitions[name] == path.read_text(encoding="utf-8"), name
        lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
        fields = [line.split()[1] for line in lines if line]
        assert [field for field, _ in store.fielddefs[f"vision_msgs/msg/{name}"][1]] == fields, name


def test_ros1_bags_are_read_for_offline_use(crossing: Sequence, tmp_path: Path) -> None:
    from rosbags.rosbag1 import Writer as Ros1Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    types = store.types
    path = tmp_path / "flight.bag"
    with Ros1Writer(path) as writer:
        connection = writer.add_connection("/usb_cam/image_raw", "sensor_msgs/msg/Image", typestore=store)
        for i in range(3):
            stamp = types["builtin_interfaces/msg/Time"](sec=100 + i, nanosec=0)
            pixels = np.ascontiguousarray(crossing.frame(i))
            image = types["sensor_msgs/msg/Image"](
                header=types["std_msgs/msg/Header"](seq=i, stamp=stamp, frame_id="cam"),
                height=240,
                width=360,
                encoding="rgb8",
                is_bigendian=0,
                step=360 * 3,
                data=pixels.reshape(-1),
            )
            writer.write(connection, (100 + i) * 10**9, store.serialize_ros1(image, connection.msgtype))
    with rosbag.open_tracking_bag(path) as bag:
        np.testing.assert_array_equal(bag.stamps_ns, [100 * 10**9, 101 * 10**9, 102 * 10**9])
        for frame in bag.frames():
            np.testing.assert_array_equal(frame.image, crossing.frame(frame.index))
        with pytest.raises(ConfigError, match="rosbags-convert"):
            next(bag.raw_images())


def test_restamped_messages_decode_with_the_new_stamp(crossing: Sequence, tmp_path: Path) -> None:
    path = rosbag.write_sequence_bag(
        Sequence("s", "folder", crossing.frames[:1], crossing.ground_truth[:1]), tmp_path / "b"
    )
    store = rosbag.typestore()
    with rosbag.open_tracking_bag(path) as bag:
        _, raw = next(bag.raw_images())
    stamp = 1_795_000_000_123_456_789
    message = store.deserialize_cdr(rosbag.restamp_cdr(raw, stamp), "sensor_msgs/msg/Image")
    assert (message.header.stamp.sec, message.header.stamp.nanosec) == (1_795_000_000, 123_456_789)
    assert message.header.frame_id == "camera" and message.encoding == "bgr8"
    np.testing.assert_array_equal(message.data.reshape(240, 360, 3)[:, :, ::-1], crossing.frame(0))
    with pytest.raises(DatasetError, match="not a CDR message"):
        rosbag.restamp_cdr(b"\x01\x02", stamp)


def _interface_json(package: str, message: str, repo_root: Path) -> Path | None:
    """The rosidl type description of a message, from a ROS install or this project's builds."""
    import os
    import sys

    prefixes = [repo_root / "build" / "test_interfaces" / "install" / package, Path(sys.prefix)]
    prefixes += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        candidate = prefix / "share" / package / "msg" / f"{message}.json"
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize(
    "msgtype",
    [
        "vision_msgs/msg/Detection2DArray",
        "vision_msgs/msg/Detection2D",
        "sensor_msgs/msg/Image",
        "sensor_msgs/msg/CompressedImage",
        "sensor_msgs/msg/CameraInfo",
    ],
)
def test_type_hashes_match_the_ros_interfaces(msgtype: str, repo_root: Path) -> None:
    """Bags written here carry the type hashes ROS 2 computes, so ros2 bag play and the node accept them."""
    import json

    package, _, message = msgtype.split("/")
    description = _interface_json(package, message, repo_root)
    if description is None:
        pytest.skip(f"no rosidl type description of {msgtype} here (build the package: make build)")
    hashes = {h["type_name"]: h["hash_string"] for h in json.loads(description.read_text())["type_hashes"]}
    assert rosbag.typestore().hash_rihs01(msgtype) == hashes[msgtype]
