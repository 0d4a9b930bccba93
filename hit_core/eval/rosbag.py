"""ROS 2 bags of tracking sequences, written and read without ROS (the ``rosbags`` library).

A bag made from a sequence holds, per frame ``i`` (stamp ``start + i / rate``):

- the image on ``/camera/image_raw`` (``sensor_msgs/Image``, bgr8 by default or rgb8) or, with
  ``compressed``, the original image file bytes on ``/camera/image_raw/compressed``
  (``sensor_msgs/CompressedImage``, no re-encoding);
- ``/camera/camera_info`` (``sensor_msgs/CameraInfo``, size only: K = 0 means uncalibrated);
- ``/ground_truth`` (``vision_msgs/Detection2DArray``) with the image's header and one
  detection whose ``bbox`` is the dataset box as centre + size (the dataset's own pixel
  convention is kept, e.g. OTB's 1-based boxes, exactly as ``hit eval`` uses them); an
  unannotated frame (NaN box) gets an empty array.

Bags recorded elsewhere are read as they are: rosbag2 (MCAP or SQLite3, zstd-compressed
or not) and ROS 1 ``.bag`` files, raw or compressed images on any topic, ground truth as
``Detection2DArray`` or ``Detection2D`` matched to images by header stamp.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hit_core.data.image_messages import compressed_to_array, image_to_array
from hit_core.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

    from hit_core.data.sequence import Sequence

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_CAMERA_INFO_TOPIC = "/camera/camera_info"
DEFAULT_GROUND_TRUTH_TOPIC = "/ground_truth"
DEFAULT_RATE_HZ = 30.0
# 2024-01-01T00:00:00Z: a fixed start makes bags made from the same sequence identical.
DEFAULT_START_NS = 1_704_067_200 * 1_000_000_000
STORAGE_FORMATS = ("mcap", "sqlite3")
RAW_ENCODINGS = ("bgr8", "rgb8")

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DETECTION_ARRAY_TYPE = "vision_msgs/msg/Detection2DArray"
DETECTION_TYPE = "vision_msgs/msg/Detection2D"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
GROUND_TRUTH_TYPES = (DETECTION_ARRAY_TYPE, DETECTION_TYPE)

_CUSTOM_NAME = "hit_ros.sequence"
_CUSTOM_RATE = "hit_ros.rate_hz"


def _rosbags() -> Any:
    try:
        import rosbags.highlevel
        import rosbags.rosbag2
        import rosbags.typesys
    except ImportError:
        raise ConfigError(
            "reading and writing bags needs the 'rosbags' package: pip install 'rosbags>=0.10' "
            "(or pip install 'hit-ros[bag]')"
        ) from None
    return rosbags


def vision_msgs_definitions() -> dict[str, str]:
    """``{message name: .msg text}`` of the vision_msgs 4.x messages hit_ros uses.

    vision_msgs has no PyPI wheel, so the definitions ship with hit_core in
    ``hit_core/interfaces/vision_msgs/msg/``, field for field as upstream (the type hashes
    equal the real package's). The test-only ROS package ``test/interfaces/vision_msgs`` is
    generated from the same files, so the type store and the built interfaces cannot drift apart.
    """
    folder = resources.files("hit_core").joinpath("interfaces", "vision_msgs", "msg")
    return {
        entry.name.removesuffix(".msg"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".msg")
    }


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 (Jazzy) message types plus the vision_msgs definitions of :func:`vision_msgs_definitions`."""
    typesys = _rosbags().typesys
    store = typesys.get_typestore(typesys.Stores.ROS2_JAZZY)
    types: dict = {}
    for name, text in vision_msgs_definitions().items():
        types.update(typesys.get_types_from_msg(text, f"vision_msgs/msg/{name}"))
    store.register(types)
    return store


# ----------------------------------------------------------------------------- boxes


def box_to_center(box: np.ndarray) -> tuple[float, float, float, float]:
    """``x, y, w, h`` (top-left corner and size) -> ``cx, cy, w, h`` as BoundingBox2D holds it."""
    x, y, w, h = (float(v) for v in box)
    return x + w / 2.0, y + h / 2.0, w, h


def bbox_to_box(bbox: Any) -> np.ndarray:
    """A ``vision_msgs/BoundingBox2D`` (any version) -> ``x, y, w, h`` float64.

    vision_msgs 4.x nests the centre as ``center.position``; 2.x/3.x (Foxy, Galactic)
    used ``geometry_msgs/Pose2D`` with ``center.x``; both are read.
    """
    centre = getattr(bbox.center, "position", bbox.center)
    w, h = float(bbox.size_x), float(bbox.size_y)
    return np.array([centre.x - w / 2.0, centre.y - h / 2.0, w, h], dtype=np.float64)


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


# ----------------------------------------------------------------------------- images


def image_from_message(message: Any, msgtype: str) -> tuple[np.ndarray, str]:
    """Decode an image message to ``(array, color)`` for ``Tracker.track(array, color=color)``.

    Raw ``sensor_msgs/Image`` becomes a zero-copy view that honours ``step`` padding (see
    :func:`hit_core.data.image_messages.image_to_array` for the encodings). ``CompressedImage``
    (jpeg/png) is decoded to BGR exactly as ``cv2.imread(..., IMREAD_COLOR)`` reads the same
    bytes from a file, so a bag tracks on the pixels ``hit eval`` tracks on. Raises
    :class:`~hit_core.data.image_messages.ImageMessageError` (a DatasetError) for messages
    the tracker cannot use.
    """
    if msgtype == COMPRESSED_IMAGE_TYPE:
        return compressed_to_array(message, mode="color")
    if msgtype != IMAGE_TYPE:
        raise DatasetError(f"{msgtype} is not an image type; expected one of {', '.join(IMAGE_TYPES)}")
    return image_to_array(message)


def bgr_copy(image: np.ndarray, color: str) -> np.ndarray:
    """A new C-contiguous H x W x 3 BGR array of a decoded frame (for image files and drawing)."""
    import cv2

    conversions = {
        "rgb": cv2.COLOR_RGB2BGR,
        "rgba": cv2.COLOR_RGBA2BGR,
        "bgra": cv2.COLOR_BGRA2BGR,
        "gray": cv2.COLOR_GRAY2BGR,
    }
    if color == "bgr":
        return np.array(image, order="C")
    if color not in conversions:
        raise DatasetError(f"unknown colour order {color!r}; expected bgr, rgb, rgba, bgra or gray")
    return cv2.cvtColor(image, conversions[color])


# ----------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class BagTopics:
    """Topic names of a bag made from a sequence."""

    image: str = DEFAULT_IMAGE_TOPIC
    camera_info: str = DEFAULT_CAMERA_INFO_TOPIC
    ground_truth: str = DEFAULT_GROUND_TRUTH_TOPIC


def write_sequence_bag(
    sequence: Sequence,
    path: str | Path,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    storage: str = "mcap",
    compressed: bool = False,
    encoding: str = "bgr8",
    frame_id: str = "camera",
    start_ns: int = DEFAULT_START_NS,
    topics: BagTopics = BagTopics(),
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write ``sequence`` as a rosbag2 folder at ``path`` and return that path.

    Frame ``i`` is stamped ``start_ns + round(i * 1e9 / rate_hz)`` (header and bag time).
    ``storage``: "mcap" or "sqlite3". ``compressed``: store the image files' bytes as
    ``CompressedImage`` on ``<image topic>/compressed`` instead of raw ``encoding`` pixels.
    The bag is written beside ``path`` and renamed into place when complete, so a failed
    run never leaves a half bag. ``overwrite`` replaces an existing bag folder (one that
    holds ``metadata.yaml``), never anything else.
    """
    rosbags = _rosbags()
    if not rate_hz > 0:
        raise ConfigError(f"rate must be positive (frames per second), got {rate_hz}")
    if storage not in STORAGE_FORMATS:
        raise ConfigError(f"storage must be one of {', '.join(STORAGE_FORMATS)}, got {storage!r}")
    if encoding not in RAW_ENCODINGS:
        raise ConfigError(f"encoding must be one of {', '.join(RAW_ENCODINGS)}, got {encoding!r}")
    if len(sequence) == 0:
        raise DatasetError(f"sequence {sequence.name} has no frames")
    path = Path(path)
    _prepare_target(path, overwrite)
    # The storage file is named after the bag folder, so the partial bag gets the final name
    # inside a scratch folder and is moved out when complete.
    scratch = path.with_name(f".{path.name}.partial")
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    partial = scratch / path.name
    plugin = rosbags.rosbag2.StoragePlugin.MCAP if storage == "mcap" else rosbags.rosbag2.StoragePlugin.SQLITE3
    store = typestore()
    types = store.types
    image_topic = topics.image + "/compressed" if compressed else topics.image
    try:
        with rosbags.rosbag2.Writer(partial, version=9, storage_plugin=plugin) as writer:
            writer.set_custom_data(_CUSTOM_NAME, sequence.name)
            writer.set_custom_data(_CUSTOM_RATE, repr(float(rate_hz)))
            image_conn = writer.add_connection(
                image_topic, COMPRESSED_IMAGE_TYPE if compressed else IMAGE_TYPE, typestore=store
            )
            info_conn = writer.add_connection(topics.camera_info, CAMERA_INFO_TYPE, typestore=store)
            gt_conn = writer.add_connection(topics.ground_truth, DETECTION_ARRAY_TYPE, typestore=store)
            frames = range(len(sequence))
            if progress:
                from tqdm import tqdm

                frames = tqdm(frames, desc=f"bag {sequence.name}", unit="frame")
            for index in frames:
                stamp = start_ns + round(index * 1e9 / rate_hz)
                header = types["std_msgs/msg/Header"](
                    stamp=types["builtin_interfaces/msg/Time"](
                        sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000
                    ),
                    frame_id=frame_id,
                )
                if compressed:
                    image_msg, (height, width) = _compressed_message(sequence.frames[index], header, types)
                else:
                    image_msg, (height, width) = _raw_message(sequence.frames[index], encoding, header, types)
                writer.write(image_conn, stamp, store.serialize_cdr(image_msg, image_conn.msgtype))
                writer.write(
                    info_conn, stamp, store.serialize_cdr(_camera_info(header, height, width, types), CAMERA_INFO_TYPE)
                )
                detections = _ground_truth_message(sequence, index, header, types)
                writer.write(gt_conn, stamp, store.serialize_cdr(detections, DETECTION_ARRAY_TYPE))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)
    scratch.rmdir()
    return path


def _prepare_target(path: Path, overwrite: bool) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not overwrite:
        raise ConfigError(f"{path} exists already; choose another output or pass --overwrite to replace the bag")
    if not (path / "metadata.yaml").is_file():
        raise ConfigError(f"{path} exists and is not a rosbag2 folder (no metadata.yaml); refusing to replace it")


def _raw_message(image_path: Path, encoding: str, header: Any, types: Any) -> tuple[Any, tuple[int, int]]:
    import cv2

    # The decoder and colour handling of every hit_core reader (cv2.imread, BGR).
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"cannot read image {image_path}: the file is missing or not an image")
    pixels = bgr if encoding == "bgr8" else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    height, width = pixels.shape[:2]
    message = types[IMAGE_TYPE](
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * 3,
        data=pixels.reshape(-1),
    )
    return message, (height, width)


def _compressed_message(image_path: Path, header: Any, types: Any) -> tuple[Any, tuple[int, int]]:
    data = np.fromfile(image_path, dtype=np.uint8)
    suffix = image_path.suffix.lower()
    formats = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
    if suffix not in formats:
        raise DatasetError(f"{image_path}: only jpeg and png frames can be stored compressed; use raw images")
    message = types[COMPRESSED_IMAGE_TYPE](header=header, format=formats[suffix], data=data)
    height, width = compressed_to_array(message, mode="color")[0].shape[:2]
    return message, (height, width)


def _camera_info(header: Any, height: int, width: int, types: Any) -> Any:
    return types[CAMERA_INFO_TYPE](
        header=header,
        height=height,
        width=width,
        distortion_model="",
        d=np.zeros(0, dtype=np.float64),
        k=np.zeros(9, dtype=np.float64),
        r=np.zeros(9, dtype=np.float64),
        p=np.zeros(12, dtype=np.float64),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def _ground_truth_message(sequence: Sequence, index: int, header: Any, types: Any) -> Any:
    box = sequence.ground_truth[index]
    detections = []
    if np.all(np.isfinite(box)):
        cx, cy, w, h = box_to_center(box)
        pose = types["geometry_msgs/msg/PoseWithCovariance"](
            pose=types["geometry_msgs/msg/Pose"](
                position=types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            ),
            covariance=np.zeros(36, dtype=np.float64),
        )
        hypothesis = types["vision_msgs/msg/ObjectHypothesisWithPose"](
            hypothesis=types["vision_msgs/msg/ObjectHypothesis"](class_id=sequence.object_class or "target", score=1.0),
            pose=pose,
        )
        bbox = types["vision_msgs/msg/BoundingBox2D"](
            center=types["vision_msgs/msg/Pose2D"](position=types["vision_msgs/msg/Point2D"](x=cx, y=cy), theta=0.0),
            size_x=w,
            size_y=h,
        )
        detections.append(types[DETECTION_TYPE](header=header, results=[hypothesis], bbox=bbox, id="ground_truth"))
    return types[DETECTION_ARRAY_TYPE](header=header, detections=detections)


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag: name, message type and message count."""

    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagFrame:
    """One image of a bag: position, header stamp (ns), pixels and their colour order."""

    index: int
    stamp_ns: int
    image: np.ndarray
    color: str


@dataclass
class TrackingBag:
    """A bag opened for tracking: its image topic, stamps and the matched ground truth.

    Use :func:`open_tracking_bag`. ``ground_truth`` is (N, 4) float64 ``x, y, w, h`` per
    image in bag order, NaN where the ground-truth topic has no box for that image's
    stamp (or there is no ground-truth topic). ``frames()`` decodes images one at a time.
    """

    path: Path
    name: str
    image_topic: str
    image_type: str
    ground_truth_topic: str | None
    topics: tuple[TopicInfo, ...]
    stamps_ns: np.ndarray
    ground_truth: np.ndarray
    rate_hz: float | None
    unmatched_ground_truth: int = 0
    _reader: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def __enter__(self) -> TrackingBag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying bag reader."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def image_messages(self) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, message)`` for every message of the image topic in bag order
        (``rosbags`` message objects of type :attr:`image_type`; a fresh pass on each call)."""
        if self._reader is None:
            raise DatasetError(f"bag {self.path} is closed")
        connections = [c for c in self._reader.connections if c.topic == self.image_topic]
        for index, (connection, _, raw) in enumerate(self._reader.messages(connections=connections)):
            yield index, self._reader.deserialize(raw, connection.msgtype)

    def frames(self) -> Iterator[BagFrame]:
        """Yield every image of the image topic, decoded, in bag order."""
        for index, message in self.image_messages():
            image, color = image_from_message(message, self.image_type)
            yield BagFrame(index, _stamp_ns(message.header), image, color)

    def raw_images(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(index, CDR bytes)`` of every image message in bag order, exactly as recorded,
        ready to publish. Only rosbag2 bags: ROS 1 messages have another header layout."""
        if self._reader is None:
            raise DatasetError(f"bag {self.path} is closed")
        if not self._reader.is2:
            raise ConfigError(
                f"{self.path} is a ROS 1 bag, which cannot be played into ROS 2 as recorded; convert it first "
                f"with 'rosbags-convert --src {self.path} --dst <new folder>' (installed with rosbags)"
            )
        connections = [c for c in self._reader.connections if c.topic == self.image_topic]
        for index, (_, _, raw) in enumerate(self._reader.messages(connections=connections)):
            yield index, bytes(raw)


def restamp_cdr(message: bytes, stamp_ns: int) -> bytes:
    """Return a CDR-serialised message whose first field is a ``std_msgs/Header`` with its
    ``header.stamp`` set to ``stamp_ns`` (the bytes are patched; nothing is decoded)."""
    if len(message) < 12 or message[0] != 0 or message[1] not in (0, 1):
        raise DatasetError("not a CDR message (expected a 4-byte CDR encapsulation header)")
    order = "little" if message[1] == 1 else "big"
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    stamp = sec.to_bytes(4, order, signed=True) + nanosec.to_bytes(4, order)
    return message[:4] + stamp + message[12:]


def open_tracking_bag(
    path: str | Path,
    *,
    image_topic: str | None = None,
    ground_truth_topic: str | None = None,
) -> TrackingBag:
    """Open a rosbag2 folder (MCAP or SQLite3) or ROS 1 ``.bag`` for tracking.

    ``image_topic``: a ``sensor_msgs/Image`` or ``CompressedImage`` topic; by default the
    only image topic, or ``/camera/image_raw`` when there are several. ``ground_truth_topic``:
    a ``vision_msgs/Detection2DArray`` (first detection used) or ``Detection2D`` topic; by
    default the only such topic, or ``/ground_truth`` when there are several; none is fine
    (the ground truth is then all NaN). Ground truth is matched to images by header stamp.
    """
    rosbags = _rosbags()
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"bag {path} does not exist; expected a rosbag2 folder (with metadata.yaml) or a .bag file")
    reader = rosbags.highlevel.AnyReader([path], default_typestore=typestore())
    try:
        reader.open()
    except (rosbags.highlevel.AnyReaderError, rosbags.rosbag2.ReaderError) as error:
        raise DatasetError(f"cannot read bag {path}: {error}") from None
    try:
        topics = _topics(reader)
        image = _choose_topic(topics, image_topic, IMAGE_TYPES, DEFAULT_IMAGE_TOPIC, "image", "--image-topic", path)
        truth = _choose_topic(
            topics,
            ground_truth_topic,
            GROUND_TRUTH_TYPES,
            DEFAULT_GROUND_TRUTH_TOPIC,
            "ground-truth",
            "--gt-topic",
            path,
            required=ground_truth_topic is not None,
        )
        stamps = _image_stamps(reader, image.name)
        if len(stamps) == 0:
            raise DatasetError(f"bag {path}: image topic {image.name} has no messages")
        boxes, unmatched = _matched_ground_truth(reader, truth, stamps)
        custom = _custom_data(path)
        rate = custom.get(_CUSTOM_RATE)
        return TrackingBag(
            path=path,
            name=custom.get(_CUSTOM_NAME) or path.stem,
            image_topic=image.name,
            image_type=image.msgtype,
            ground_truth_topic=truth.name if truth else None,
            topics=tuple(topics),
            stamps_ns=stamps,
            ground_truth=boxes,
            rate_hz=float(rate) if rate else _estimated_rate(stamps),
            unmatched_ground_truth=unmatched,
            _reader=reader,
        )
    except BaseException:
        reader.close()
        raise


def _custom_data(path: Path) -> dict[str, str]:
    metadata = path / "metadata.yaml"
    if not metadata.is_file():
        return {}
    import yaml

    info = (yaml.safe_load(metadata.read_text(encoding="utf-8")) or {}).get("rosbag2_bagfile_information", {})
    return {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}


def _topics(reader: Any) -> list[TopicInfo]:
    counts: dict[tuple[str, str], int] = {}
    for connection in reader.connections:
        key = (connection.topic, connection.msgtype)
        counts[key] = counts.get(key, 0) + connection.msgcount
    return [TopicInfo(name, msgtype, count) for (name, msgtype), count in sorted(counts.items())]


def _choose_topic(
    topics: list[TopicInfo],
    wanted: str | None,
    types: tuple[str, ...],
    default: str,
    what: str,
    option: str,
    path: Path,
    required: bool = True,
) -> TopicInfo | None:
    listing = "; ".join(f"{t.name} ({t.msgtype}, {t.count})" for t in topics) or "none"
    if wanted is not None:
        for topic in topics:
            if topic.name == wanted:
                if topic.msgtype not in types:
                    raise ConfigError(
                        f"bag {path}: topic {wanted} has type {topic.msgtype}, but a {what} topic must be one of "
                        f"{', '.join(types)}"
                    )
                return topic
        close = difflib.get_close_matches(wanted, [t.name for t in topics], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"bag {path} has no topic {wanted}{hint}; its topics: {listing}")
    candidates = [t for t in topics if t.msgtype in types]
    if len(candidates) == 1:
        return candidates[0]
    for topic in candidates:
        if topic.name == default:
            return topic
    if not candidates:
        if required:
            raise ConfigError(f"bag {path} has no {what} topic ({', '.join(types)}); its topics: {listing}")
        return None
    names = ", ".join(t.name for t in candidates)
    raise ConfigError(f"bag {path} has several {what} topics ({names}); choose one with {option}")


def _image_stamps(reader: Any, topic: str) -> np.ndarray:
    connections = [c for c in reader.connections if c.topic == topic]
    stamps = [
        _stamp_ns(reader.deserialize(raw, connection.msgtype).header)
        for connection, _, raw in reader.messages(connections=connections)
    ]
    return np.asarray(stamps, dtype=np.int64)


def _matched_ground_truth(reader: Any, topic: TopicInfo | None, stamps: np.ndarray) -> tuple[np.ndarray, int]:
    boxes = np.full((len(stamps), 4), np.nan)
    if topic is None:
        return boxes, 0
    row_of = {int(stamp): row for row, stamp in enumerate(stamps)}
    unmatched = 0
    connections = [c for c in reader.connections if c.topic == topic.name]
    for connection, _, raw in reader.messages(connections=connections):
        message = reader.deserialize(raw, connection.msgtype)
        row = row_of.get(_stamp_ns(message.header))
        if row is None:
            unmatched += 1
            continue
        detections = message.detections if connection.msgtype == DETECTION_ARRAY_TYPE else [message]
        if detections:
            boxes[row] = bbox_to_box(detections[0].bbox)
    return boxes, unmatched


def _estimated_rate(stamps: np.ndarray) -> float | None:
    if len(stamps) < 2:
        return None
    period = float(np.median(np.diff(stamps)))
    return 1e9 / period if period > 0 else None
