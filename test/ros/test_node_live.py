"""The tracker node in its own process, driven over real ROS 2 topics and services.

Each test starts ``python -m hit_ros.tracker_node`` with the fixtures' deterministic HiT-Tiny weights and talks
to it from an in-process rclpy node: real sequences from ../shared/data published as ``sensor_msgs/Image``,
``set_target``/``reset`` calls, ``Detection2DArray`` and ``/diagnostics`` read back. Boxes are compared with
an offline :class:`hit_core.tracking.Tracker` (same backend, weights and thread count) fed exactly the frames
the node reports having processed: every processed frame yields one Detection2DArray with that frame's header.
"""

from __future__ import annotations

import array
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

PYTHON = sys.executable
VARIANT = "tiny"
THREADS = 1  # node and offline tracker alike, so their arithmetic is the same
CLASS_ID = "crossing_pedestrian"


def _backend() -> str:
    from hit_core.tracking.backends import backend_availability

    return "onnxruntime" if backend_availability("onnxruntime")[0] else "torch"


def _runtime() -> str:
    """What the node's default device runs the network on: ONNX Runtime's OpenVINO provider where installed."""
    if _backend() == "torch":
        return "torch"
    from hit_core.tracking.backends.onnxruntime_backend import openvino_available

    return "openvino" if openvino_available() else "cpu"


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def weights(fixture_checkpoint) -> Path:
    """The fixtures' deterministic HiT-Tiny weights as a checkpoint file (not a trained model)."""
    return fixture_checkpoint(VARIANT)


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the node and the offline tracker, so the runtime graphs are built once."""
    return tmp_path_factory.mktemp("engine_cache")


@pytest.fixture(scope="module")
def crossing(data_dir: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """OTB100/Crossing (120 frames, 360x240) decoded to RGB, and its ground truth (x, y, w, h)."""
    folder = data_dir / "OTB100" / "Crossing"
    frames = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in sorted((folder / "img").glob("*.jpg"))]
    truth = np.loadtxt(folder / "groundtruth.txt", delimiter=",", dtype=np.float64)
    return frames, truth


def _offline_tracker(weights: Path, engine_cache: Path):
    from hit_core.tracking import Tracker

    return Tracker.from_options(
        variant=VARIANT, checkpoint=weights, backend=_backend(), threads=THREADS, engine_cache_dir=engine_cache
    )


# ------------------------------------------------------------------------------------------------- harness
class TrackerNodeUnderTest:
    """The node process plus the test's publishers, subscribers and clients in its namespace."""

    def __init__(self, ros_process, ros_node, namespace: str, parameters: dict[str, object]) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection2DArray

        from hit_ros.srv import SetTarget

        self.namespace = namespace
        self.ros = ros_node
        arguments = [PYTHON, "-m", "hit_ros.tracker_node", "--ros-args", "-r", f"__ns:=/{namespace}"]
        for name, value in parameters.items():
            arguments += ["-p", f"{name}:={value}"]
        self.process = ros_process(*arguments, name=namespace)
        node = ros_node.node
        self.image_pub = node.create_publisher(Image, f"/{namespace}/image", 10)
        self.compressed_pub = node.create_publisher(CompressedImage, f"/{namespace}/image/compressed", 10)
        self.detections: list[tuple[float, Detection2DArray]] = []
        self.diagnostics: list = []
        node.create_subscription(
            Detection2DArray,
            f"/{namespace}/hit_tracker/detections",
            lambda msg: self.detections.append((time.monotonic(), msg)),
            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE),
        )
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 100)
        self.set_target_client = node.create_client(SetTarget, f"/{namespace}/hit_tracker/set_target")
        self.reset_client = node.create_client(Trigger, f"/{namespace}/hit_tracker/reset")
        self.process.wait_for_output(r"ready: HiT", timeout=180)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(f"{self.namespace}/hit_tracker"):
                self.diagnostics.append(status)

    # -- traffic
    def publish(self, frame: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "camera") -> None:
        from hit_ros.image_conversion import array_to_image

        msg = array_to_image(frame, encoding)
        self.publish_message(msg, stamp_ns, frame_id)

    def publish_message(self, msg, stamp_ns: int | None, frame_id: str = "camera") -> None:
        """Publish ``msg`` with the given stamp (None: keep the message's own stamp)."""
        if stamp_ns is not None:
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        msg.header.frame_id = frame_id
        (self.compressed_pub if hasattr(msg, "format") else self.image_pub).publish(msg)

    def spin(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ros.executor.spin_once(timeout_sec=0.01)

    def now_ns(self) -> int:
        return self.ros.node.get_clock().now().nanoseconds

    def answered(self, stamp_ns: int) -> bool:
        return any(_stamp_ns(msg.header) == stamp_ns for _, msg in self.detections)

    def publish_until_answered(self, frame: np.ndarray, stamp_ns: int, timeout: float = 30.0, **kwargs) -> None:
        """Publish one frame (again, same stamp) until the node has answered it: then it is in its frame ring."""
        deadline = time.monotonic() + timeout
        while not self.answered(stamp_ns):
            if time.monotonic() > deadline:
                pytest.fail(f"the node never answered the frame stamped {stamp_ns}:\n{self.process.output()[-3000:]}")
            self.publish(frame, stamp_ns, **kwargs)
            self.ros.spin_until(lambda: self.answered(stamp_ns), timeout=0.5)

    def stream(self, frames: list[np.ndarray], rate_hz: float) -> list[int]:
        """Publish ``frames`` at ``rate_hz`` stamped with the current time; returns their stamps."""
        stamps = []
        period = 1.0 / rate_hz
        next_tick = time.monotonic()
        for frame in frames:
            stamp = self.now_ns()
            self.publish(frame, stamp)
            stamps.append(stamp)
            next_tick += period
            self.spin(max(0.0, next_tick - time.monotonic()))
        return stamps

    def settle(self, quiet_s: float = 2.0, timeout: float = 60.0) -> None:
        """Spin until no detection arrived for ``quiet_s`` seconds (the node caught up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = len(self.detections)
            self.spin(quiet_s)
            if len(self.detections) == count:
                return
        pytest.fail("detections kept coming for a minute after the input stopped")

    # -- services
    def set_target(self, stamp_ns: int, box: tuple[float, float, float, float], frame_id: str = "camera"):
        from hit_ros.srv import SetTarget

        request = SetTarget.Request()
        request.header.stamp.sec, request.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        request.header.frame_id = frame_id
        x, y, w, h = box
        request.bbox.center.position.x, request.bbox.center.position.y = x + w / 2, y + h / 2
        request.bbox.size_x, request.bbox.size_y = w, h
        return self.ros.call(self.set_target_client, request, timeout=30)

    def reset(self):
        from std_srvs.srv import Trigger

        return self.ros.call(self.reset_client, Trigger.Request(), timeout=30)

    # -- diagnostics
    def latest_diagnostics(self, predicate: Callable[[dict], bool] = lambda values: True, timeout: float = 15.0):
        """The newest status of this node whose values satisfy ``predicate`` (waits for one)."""
        found: list = []

        def matching() -> bool:
            for status in reversed(self.diagnostics):
                if predicate({item.key: item.value for item in status.values}):
                    found.append(status)
                    return True
            return False

        if not self.ros.spin_until(matching, timeout):
            last = self.diagnostics[-1] if self.diagnostics else None
            pytest.fail(f"no diagnostics of the node matched within {timeout} s; last: {last}")
        return found[0], {item.key: item.value for item in found[0].values}

    def alive(self) -> bool:
        return self.process.is_running()


def _stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def _box_of(detection) -> np.ndarray:
    center, w, h = detection.bbox.center.position, detection.bbox.size_x, detection.bbox.size_y
    return np.array([center.x - w / 2, center.y - h / 2, w, h])


def _published_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The node's output box for a tracker box: clipped to the image, as centre/size and back."""
    x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
    x1, y1 = min(float(width), float(box[0] + box[2])), min(float(height), float(box[1] + box[3]))
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, max(0.0, x1 - x0), max(0.0, y1 - y0)
    return np.array([cx - w / 2, cy - h / 2, w, h])


def _start(ros_process, ros_node, weights: Path, engine_cache: Path, namespace: str, **extra) -> TrackerNodeUnderTest:
    parameters = {
        "variant": VARIANT,
        "checkpoint": weights,
        "backend": _backend(),
        "threads": THREADS,
        "engine_cache_dir": engine_cache,
        "class_id": CLASS_ID,
        "lost_score_threshold": 0.0,  # random weights give low confidence; publish every box
        "max_image_age_ms": 5000.0,  # the machine is shared: do not drop frames merely for a slow test host
        "diagnostics.period_s": 0.5,
    }
    parameters.update(extra)
    return TrackerNodeUnderTest(ros_process, ros_node, namespace, parameters)


# ------------------------------------------------------------------------------------------------- tests
def test_sequence_at_30_hz_gives_the_offline_trackers_boxes_with_the_images_headers(
    ros_process, ros_node, weights, engine_cache, crossing
):
    frames, truth = crossing
    node = _start(ros_process, ros_node, weights, engine_cache, "live_sequence")
    first_stamp = node.now_ns()
    node.publish_until_answered(frames[0], first_stamp)
    response = node.set_target(first_stamp, tuple(truth[0]))
    assert response.success, response.message
    assert len(response.track_id) >= 8

    stamps = node.stream(frames[1:], rate_hz=30.0)
    node.settle()
    frame_of = {stamp: index + 1 for index, stamp in enumerate(stamps)}
    tracked = [(_stamp_ns(msg.header), msg) for _, msg in node.detections if _stamp_ns(msg.header) in frame_of]
    assert len(tracked) >= 10, f"only {len(tracked)} of {len(stamps)} frames were processed"
    processed = [stamp for stamp, _ in tracked]
    assert processed == sorted(set(processed)), "each frame is answered once, in order"

    offline = _offline_tracker(weights, engine_cache)
    offline.initialize(frames[0], truth[0])
    height, width = frames[0].shape[:2]
    for stamp, msg in tracked:
        assert msg.header.frame_id == "camera"
        assert len(msg.detections) == 1
        detection = msg.detections[0]
        assert (_stamp_ns(detection.header), detection.header.frame_id) == (stamp, "camera")
        assert detection.id == response.track_id
        assert detection.results[0].hypothesis.class_id == CLASS_ID
        expected = offline.track(frames[frame_of[stamp]])
        np.testing.assert_allclose(_box_of(detection), _published_box(expected.box, width, height), atol=1e-9)
        assert detection.results[0].hypothesis.score == pytest.approx(expected.score, abs=1e-12)
    offline.close()

    def settled(values: dict) -> bool:
        accounted = int(values["frames_processed"]) + int(values["model_errors"]) + sum(
            int(values[f"frames_dropped_{reason}"]) for reason in ("busy", "too_old", "bad_message")
        )
        return int(values["frames_received"]) > len(tracked) and accounted == int(values["frames_received"])

    # Best effort, depth 1: frames the camera sent while the executor was busy are replaced in the reader's
    # queue unseen; every frame the node did receive is answered or counted as dropped, by reason.
    status, values = node.latest_diagnostics(settled)
    assert status.hardware_id == f"cpu/{_backend()}"
    assert values["state"] in ("tracking", "lost") and values["track_id"] == response.track_id
    assert values["backend"] == _backend() and values["model"] == "HiT-tiny/fp32"
    assert values["runtime"] == _runtime()
    assert int(values["frames_processed"]) >= len(tracked)
    for key in ("convert", "preprocess", "inference", "postprocess", "total", "overhead"):
        assert float(values[f"latency_{key}_ms_p50"]) <= float(values[f"latency_{key}_ms_p95"])
    for key in ("input_rate_hz", "output_rate_hz", "image_age_ms_p50", "image_age_ms_p95", "time_to_first_box_ms"):
        assert float(values[key]) > 0, key
    assert "last_error" in values
    assert node.alive()


def test_set_target_initialises_on_the_frame_with_the_requested_stamp(
    ros_process, ros_node, weights, engine_cache, crossing
):
    frames, truth = crossing
    node = _start(ros_process, ros_node, weights, engine_cache, "live_stamped")
    history = list(range(40, 50))  # frames the node has seen before the request
    stamps = {}
    for index in history:
        stamps[index] = node.now_ns()
        node.publish_until_answered(frames[index], stamps[index])
    chosen = 42
    response = node.set_target(stamps[chosen], tuple(truth[chosen]))
    assert response.success, response.message

    later = list(range(50, 70))
    for index in later:  # one at a time, so every frame is processed and the comparison is long
        stamps[index] = node.now_ns()
        node.publish_until_answered(frames[index], stamps[index])
    answers = {_stamp_ns(msg.header): msg for _, msg in node.detections}

    def offline_boxes(init_index: int) -> np.ndarray:
        offline = _offline_tracker(weights, engine_cache)
        offline.initialize(frames[init_index], truth[chosen])
        height, width = frames[0].shape[:2]
        boxes = [_published_box(offline.track(frames[index]).box, width, height) for index in later]
        offline.close()
        return np.array(boxes)

    node_boxes = np.array([_box_of(answers[stamps[index]].detections[0]) for index in later])
    np.testing.assert_allclose(node_boxes, offline_boxes(chosen), atol=1e-9)
    assert not np.allclose(node_boxes, offline_boxes(history[-1]), atol=1e-3), (
        "initialising on the latest frame must give other boxes, or this test could not tell the frames apart"
    )

    # A re-sent image (same stamp as the last tracked one) is dropped, not tracked a second time.
    duplicate = stamps[later[-1]]

    def received(values: dict) -> int:
        return int(values.get("frames_received", 0))

    _, before = node.latest_diagnostics(lambda v: received(v) >= len(history) + len(later))
    node.publish(frames[later[-1]], duplicate)
    node.latest_diagnostics(lambda v: received(v) > received(before))
    node.spin(0.5)
    assert len([msg for _, msg in node.detections if _stamp_ns(msg.header) == duplicate]) == 1

    # A zero stamp means the latest frame.
    latest_index = 80
    stamps[latest_index] = node.now_ns()
    node.publish_until_answered(frames[latest_index], stamps[latest_index])
    response = node.set_target(0, tuple(truth[latest_index]))
    assert response.success, response.message
    stamp = node.now_ns()
    node.publish_until_answered(frames[latest_index + 1], stamp)
    offline = _offline_tracker(weights, engine_cache)
    offline.initialize(frames[latest_index], truth[latest_index])
    expected = offline.track(frames[latest_index + 1]).box
    offline.close()
    answer = next(msg for _, msg in node.detections if _stamp_ns(msg.header) == stamp)
    np.testing.assert_allclose(_box_of(answer.detections[0]), _published_box(expected, 360, 240), atol=1e-9)


def test_bad_requests_bad_images_and_early_calls_fail_cleanly_and_the_node_keeps_serving(
    ros_process, ros_node, weights, engine_cache, crossing
):
    from sensor_msgs.msg import Image

    from hit_ros.image_conversion import array_to_image

    frames, truth = crossing
    node = _start(ros_process, ros_node, weights, engine_cache, "live_robust", **{"set_target.min_box_size": 6.0})

    # Before any image: clean refusals, and reset is harmless.
    for stamp in (0, 123_000_000_000):
        response = node.set_target(stamp, (10.0, 10.0, 20.0, 20.0))
        assert not response.success and response.track_id == ""
        assert "no image received yet" in response.message and "/live_robust/image" in response.message
    reset = node.reset()
    assert reset.success and reset.message == "was not tracking"
    status, values = node.latest_diagnostics()
    assert values["state"] == "idle"

    stamp = node.now_ns()
    node.publish_until_answered(frames[0], stamp)
    idle_answer = next(msg for _, msg in node.detections if _stamp_ns(msg.header) == stamp)
    assert idle_answer.detections == [] and idle_answer.header.frame_id == "camera", "idle: an empty array"

    bad_boxes = {
        (math.nan, 10.0, 20.0, 20.0): "must be finite",
        (10.0, 10.0, math.inf, 20.0): "must be finite",
        (10.0, 10.0, -5.0, 20.0): "size must be positive",
        (10.0, 10.0, 0.0, 20.0): "size must be positive",
        (400.0, 10.0, 30.0, 30.0): "lies outside the 360 x 240 image",
        (-40.0, -40.0, 30.0, 30.0): "lies outside",
        (357.0, 100.0, 20.0, 20.0): "smaller than set_target.min_box_size = 6 px",
        (100.0, 100.0, 3.0, 30.0): "smaller than set_target.min_box_size",
    }
    for box, reason in bad_boxes.items():
        response = node.set_target(stamp, box)
        assert not response.success and reason in response.message, (box, response.message)
    response = node.set_target(stamp - 10_000_000_000, tuple(truth[0]))
    assert not response.success and "no buffered frame is stamped" in response.message
    assert "the buffer holds 1 frames" in response.message

    response = node.set_target(stamp, (-10.0, 140.0, 240.0, 50.0))  # partly outside: clipped and accepted
    assert response.success, response.message
    tracked_stamp = node.now_ns()
    node.publish_until_answered(frames[1], tracked_stamp)
    answer = next(msg for _, msg in node.detections if _stamp_ns(msg.header) == tracked_stamp)
    assert len(answer.detections) == 1 and answer.detections[0].id == response.track_id

    def image(**fields) -> Image:
        msg = Image(height=240, width=360, encoding="rgb8", step=1080)
        msg.data = array.array("B", bytes(240 * 1080))
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    bad_images = [
        image(encoding="yuv420_weird"),
        image(data=array.array("B", bytes(100))),
        image(height=0, width=0, step=0, data=array.array("B")),
        image(step=1000),
    ]
    def publish_until_counted(msg, reason: str, count: int, keep_stamp: bool = False) -> None:
        # Depth 1: a message sent right after another may replace it unseen, so send each until it is counted.
        for _ in range(20):
            node.publish_message(msg, None if keep_stamp else node.now_ns())
            found = node.ros.spin_until(
                lambda: any(
                    int(item.value) >= count
                    for status in node.diagnostics[-3:]
                    for item in status.values
                    if item.key == f"frames_dropped_{reason}"
                ),
                timeout=1.5,
            )
            if found:
                return
        pytest.fail(f"the node never counted a {reason} drop:\n{node.process.output()[-3000:]}")

    for count, bad in enumerate(bad_images, start=1):
        publish_until_counted(bad, "bad_message", count)
    status, values = node.latest_diagnostics(lambda v: int(v["frames_dropped_bad_message"]) >= len(bad_images))
    assert status.level == b"\x01" and "bad image message(s) in 5 s" in status.message, status.message
    assert values["last_error"].startswith("bad image message dropped: ")
    assert "unsupported image encoding 'yuv420_weird'" in node.process.output()
    old_frame = array_to_image(frames[2], "rgb8")
    old_frame.header.stamp.sec = node.now_ns() // 1_000_000_000 - 60  # a minute old: too old to track
    old_frame.header.frame_id = "camera"
    publish_until_counted(old_frame, "too_old", 1, keep_stamp=True)

    good_stamp = node.now_ns()
    node.publish_until_answered(frames[3], good_stamp)
    assert len(next(msg for _, msg in node.detections if _stamp_ns(msg.header) == good_stamp).detections) == 1

    reset = node.reset()
    assert reset.success and response.track_id in reset.message
    idle_stamp = node.now_ns()
    node.publish_until_answered(frames[4], idle_stamp)
    assert next(msg for _, msg in node.detections if _stamp_ns(msg.header) == idle_stamp).detections == []
    assert node.alive()
    assert node.process.stop() == 0, "Ctrl-C stops the node cleanly"
    assert "Traceback" not in node.process.output()


def test_lost_target_publishes_empty_arrays_and_compressed_input_works(
    ros_process, ros_node, weights, engine_cache, crossing
):
    from sensor_msgs.msg import CompressedImage

    frames, truth = crossing
    node = _start(
        ros_process, ros_node, weights, engine_cache, "live_compressed",
        image_transport="compressed", lost_score_threshold=1.0,  # no box is ever that sure: always lost
    )

    def jpeg(frame: np.ndarray) -> CompressedImage:
        msg = CompressedImage(format="rgb8; jpeg compressed bgr8")
        msg.data = array.array("B", cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes())
        return msg

    def publish_until_answered(msg, stamp: int) -> None:
        deadline = time.monotonic() + 30
        while not node.answered(stamp):
            assert time.monotonic() < deadline, node.process.output()[-3000:]
            node.publish_message(msg, stamp)
            node.ros.spin_until(lambda: node.answered(stamp), timeout=0.5)

    stamp = node.now_ns()
    publish_until_answered(jpeg(frames[0]), stamp)
    response = node.set_target(stamp, tuple(truth[0]))
    assert response.success, response.message
    for index in range(1, 4):
        stamp = node.now_ns()
        publish_until_answered(jpeg(frames[index]), stamp)
        answer = next(msg for _, msg in node.detections if _stamp_ns(msg.header) == stamp)
        assert answer.detections == [] and answer.header.frame_id == "camera", "lost: an empty array, same header"
    _, values = node.latest_diagnostics(lambda v: v.get("state") == "lost")
    assert float(values["score"]) < 1.0

    garbage = CompressedImage(format="jpeg")
    garbage.data = array.array("B", b"not a jpeg at all")
    node.publish_message(garbage, node.now_ns())
    _, values = node.latest_diagnostics(lambda v: int(v.get("frames_dropped_bad_message", 0)) >= 1)
    assert "could not decode" in values["last_error"]
    assert node.alive()


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"backend": "tensorrtt"},
            "cannot start: parameter 'backend' must be one of auto, onnxruntime, tensorrt, torch, got 'tensorrtt'",
        ),
        ({"checkpoint": "/nonexistent/hit.pth"}, "cannot start: parameter 'checkpoint' names '/nonexistent/hit.pth'"),
        (
            {"qos_overrides./live_bad_parameter/image.subscription.reliability": "sometimes", "with_weights": True},
            "cannot start: invalid qos_overrides parameter: Unexpected QoS override for policy `reliability`",
        ),
    ],
    ids=["backend", "checkpoint", "qos_override"],
)
def test_a_bad_parameter_stops_start_up_with_one_clear_line(ros_process, weights, engine_cache, parameters, expected):
    arguments = [PYTHON, "-m", "hit_ros.tracker_node", "--ros-args", "-r", "__ns:=/live_bad_parameter"]
    parameters = dict(parameters)
    if parameters.pop("with_weights", False):
        parameters.update(checkpoint=weights, backend=_backend(), engine_cache_dir=engine_cache)
    for name, value in parameters.items():
        arguments += ["-p", f"{name}:={value}"]
    process = ros_process(*arguments, name="bad_parameter")
    deadline = time.monotonic() + 120
    while process.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.popen.returncode == 1, process.output()[-3000:]
    output = process.output()
    assert expected in output
    assert "Traceback" not in output


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.slow
def test_overload_with_720p_frames_drops_the_backlog_and_stays_flat(
    ros_process, ros_node, weights, engine_cache, data_dir
):
    """720p rgb8 for 20 s at several times the processing rate: no queueing, no growth, drops counted."""
    from hit_ros.image_conversion import array_to_image

    folder = data_dir / "UAV123_10fps" / "wakeboard7"
    paths = sorted((folder / "img").glob("*.jpg"))[:8]
    frames = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in paths]
    assert frames[0].shape == (720, 1280, 3)
    truth = np.loadtxt(folder / "groundtruth.txt", delimiter=",", dtype=np.float64)
    messages = [array_to_image(frame, "rgb8") for frame in frames]

    # Fast DDS loses nearly every best-effort message that needs fragmenting (a 2.7 MB image does), see
    # docs/node.md; the standard QoS override makes the subscription reliable, which also tests that mechanism.
    node = _start(
        ros_process, ros_node, weights, engine_cache, "live_overload", max_image_age_ms=500.0,
        # A small frame ring fills at once even when reliable transport delivers only a few frames per second,
        # so any later growth of the process is a leak, not the ring filling up.
        frame_buffer_size=2,
        **{"qos_overrides./live_overload/image.subscription.reliability": "reliable"},
    )
    pid = node.process.popen.pid
    stamp = node.now_ns()
    node.publish_until_answered(frames[0], stamp)
    assert node.set_target(stamp, tuple(truth[0])).success

    duration_s, publish_hz = 20.0, 60.0
    rss: list[tuple[float, float]] = []
    published: dict[int, float] = {}
    start = time.monotonic()
    next_publish = next_sample = start
    index = 0
    while (now := time.monotonic()) - start < duration_s:
        if now >= next_publish:
            stamp = node.now_ns()
            node.publish_message(messages[index % len(messages)], stamp)
            published[stamp] = now
            index += 1
            next_publish += 1.0 / publish_hz
        if now >= next_sample:
            rss.append((now - start, _rss_mb(pid)))
            next_sample += 0.5
        node.ros.executor.spin_once(timeout_sec=0)
        time.sleep(max(0.0, min(0.002, next_publish - time.monotonic())))
    node.settle(quiet_s=1.5)
    assert node.alive(), node.process.output()[-3000:]

    answered = [
        (received, _stamp_ns(msg.header)) for received, msg in node.detections if _stamp_ns(msg.header) in published
    ]
    sent_rate = len(published) / duration_s
    processed_rate = len(answered) / duration_s
    # The overload shows in the drops asserted below (busy, too old, or replaced in the depth-1 queue). On a 2-core machine the publisher of 2.7 MB images
    # shares the CPU with the node (0.5-7 processed frames/s seen): the point is that the node keeps answering.
    assert processed_rate >= 1, f"the node processed only {processed_rate:.1f} frames/s under load"

    # Latency from the image stamp to the detection arriving here must not grow: nothing queues.
    latency_ms = np.array([(received - published[stamp]) * 1e3 for received, stamp in answered])
    times = np.array([published[stamp] - start for _, stamp in answered])
    early = latency_ms[(times > 2) & (times < 8)]
    late = latency_ms[times > duration_s - 6]
    assert early.size and late.size
    assert np.percentile(late, 95) < np.percentile(early, 95) + 150, (np.percentile(early, 95), np.percentile(late, 95))
    assert np.percentile(latency_ms, 95) < 1000

    # Memory: after the first seconds (ring full, runtime warmed up) the process must not grow.
    settled_rss = np.median([value for t, value in rss if 3 <= t <= 6])
    final_rss = np.median([value for t, value in rss if t >= duration_s - 4])
    assert final_rss - settled_rss < 40, f"RSS grew from {settled_rss:.0f} MB to {final_rss:.0f} MB"

    def accounted(values: dict) -> bool:
        dropped = sum(int(values[f"frames_dropped_{reason}"]) for reason in ("busy", "too_old", "bad_message"))
        return int(values["frames_processed"]) + dropped + int(values["model_errors"]) == int(values["frames_received"])

    _, values = node.latest_diagnostics(accounted)
    dropped = sum(int(values[key]) for key in ("frames_dropped_busy", "frames_dropped_too_old", "frames_missed"))
    assert dropped > len(published) / 2, "an overloaded node must drop (and count) most frames"
    assert len(answered) + dropped >= 0.9 * len(published), "frames neither answered nor counted as dropped"
    assert int(values["model_errors"]) == 0 and values["last_error"] == ""
    # A best-effort camera cannot feed the reliable subscription: the node says so instead of staying silent.
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    node.ros.node.create_publisher(Image, "/live_overload/image", qos_profile_sensor_data)
    _, warned = node.latest_diagnostics(lambda v: "incompatible" in v["last_error"], timeout=20)
    assert "RELIABILITY" in warned["last_error"] and "qos_overrides" in warned["last_error"]
    print(
        f"overload: sent {sent_rate:.0f} Hz, processed {processed_rate:.1f} Hz, received "
        f"{values['frames_received']}, dropped busy {values['frames_dropped_busy']} / too old "
        f"{values['frames_dropped_too_old']} / missed {values['frames_missed']}; end-to-end latency p50 "
        f"{np.percentile(latency_ms, 50):.0f} ms, p95 {np.percentile(latency_ms, 95):.0f} ms; "
        f"RSS {settled_rss:.0f} -> {final_rss:.0f} MB; node latency total p50/p95 {values['latency_total_ms_p50']}/"
        f"{values['latency_total_ms_p95']} ms, inference p50 {values['latency_inference_ms_p50']} ms"
    )
