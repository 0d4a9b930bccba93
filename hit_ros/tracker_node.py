"""``tracker_node``: camera images in, ``vision_msgs/Detection2DArray`` and ``/diagnostics`` out.

Threads: one single-threaded executor runs the image subscription (validate, buffer, hand over: O(1), no
pixel work), the services and the diagnostics timer; one worker thread runs the tracker on the newest frame
only (a one-slot mailbox), so tracking never queues behind the camera and the executor keeps taking frames
while the network runs. rclpy's MultiThreadedExecutor is avoided on purpose: it busy-waits while a callback
sits in its thread pool (rclpy#1452), which held the GIL and a core and made the node miss 40-87 % of a
30 Hz camera's frames in live replays on 2 cores (0 % with this executor). Nothing a message, a request or
the model does can stop the node: every failure is logged (throttled), counted and shown in diagnostics.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
import rclpy.subscription
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from hit_core.data.image_messages import ImageMessageError, check_image, compressed_to_array, image_to_array
from hit_core.errors import ConfigError, HitError
from hit_ros.diagnostics import NodeTelemetry, TrackerState, diagnostic_status
from hit_ros.frame_buffer import FrameRing, LatestSlot, ReceivedFrame
from hit_ros.parameters import NodeParameters, declare_parameters
from hit_ros.srv import SetTarget

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble names the module qos_event
    from rclpy.qos_event import SubscriptionEventCallbacks

__all__ = ["NODE_NAME", "TargetRejected", "TrackerNode", "detections_qos", "image_qos", "main"]

NODE_NAME = "hit_tracker"
# rclpy passes publisher sequence numbers to two-argument callbacks from Iron on; Humble has no MessageInfo.
_MESSAGE_INFO_CALLBACKS = hasattr(rclpy.subscription, "MessageInfo")
_LOG_THROTTLE_S = 5.0
_WARMUP_FRAME_SIDE = 256


def image_qos() -> QoSProfile:
    """Sensor-data QoS as REP-2003 asks of consumers, but depth 1: a deeper queue only delivers older frames.

    A new profile per call: rclpy applies ``qos_overrides`` parameters to the profile object in place.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def detections_qos() -> QoSProfile:
    """Reliable, depth 10: matches reliable and best-effort consumers; detections are tiny."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)


class TargetRejected(HitError):
    """A set_target request cannot be served; the message is returned to the caller as is."""


class TrackerNode(Node):
    """The HiT tracker as a ROS 2 node (see ``docs/node.md`` for topics, services and parameters).

    Construction declares and validates the parameters and builds and warms up the tracker; it raises
    :class:`hit_core.errors.HitError` (e.g. ``ConfigError``) when it cannot start. :meth:`start` then starts
    the worker thread; :meth:`close` stops it.
    """

    def __init__(self, **node_options: Any) -> None:
        super().__init__(NODE_NAME, **node_options)
        self.params: NodeParameters = declare_parameters(self)
        self.telemetry = NodeTelemetry(self.params.diagnostics.window_s)
        self._status_lock = threading.Lock()
        self._tracker_lock = threading.Lock()  # held while the tracker runs, so set_target waits its turn
        self._closed = False
        self._ring = FrameRing(self.params.frame_buffer_size)
        self._mailbox = LatestSlot()
        self._state_stamp_ns = 0
        self._target_requested_at: float | None = None
        self._max_age_ns = int(self.params.max_image_age_ms * 1e6)
        self._compressed = self.params.image_transport == "compressed"
        self._last_sequence: dict[bytes, int] = {}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="hit_tracker_worker", daemon=True)
        self._tracker, self._status = self._create_tracker()
        try:
            self._create_interfaces()
        except BaseException:
            self._tracker.close()
            raise
        self.get_logger().info(
            f"ready: HiT-{self._tracker.variant} on {self._tracker.backend_name}; listening on "
            f"{self._image_sub.topic_name} ({'CompressedImage' if self._compressed else 'Image'}, "
            f"{self._image_sub.qos_profile.reliability.name.lower().replace('_', ' ')}, "
            f"depth {self._image_sub.qos_profile.depth}), "
            f"publishing {self._detections_pub.topic_name}; call {self.get_fully_qualified_name()}/set_target"
        )

    def _create_interfaces(self) -> None:
        """Publishers, the image subscription, services and the diagnostics timer."""
        try:
            self._detections_pub = self.create_publisher(
                Detection2DArray,
                "~/detections",
                detections_qos(),
                qos_overriding_options=QoSOverridingOptions.with_default_policies(),
            )
            self._image_sub = self.create_subscription(
                CompressedImage if self._compressed else Image,
                "image/compressed" if self._compressed else "image",
                self._on_image_with_info if _MESSAGE_INFO_CALLBACKS else self.handle_image,
                image_qos(),
                event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos),
                qos_overriding_options=QoSOverridingOptions.with_default_policies(),
            )
        except (RuntimeError, ValueError, TypeError) as error:  # rclpy's errors for bad qos_overrides values
            raise ConfigError(
                f"invalid qos_overrides parameter: {error}; use reliability reliable|best_effort|system_default, "
                f"history keep_last|keep_all, depth a positive integer"
            ) from None
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(SetTarget, "~/set_target", self._on_set_target)
        self.create_service(Trigger, "~/reset", self._on_reset)
        # A steady clock keeps diagnostics coming when a simulated clock is paused or jumps.
        self._diagnostics_timer = self.create_timer(
            self.params.diagnostics.period_s,
            self.publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )

    # ----------------------------------------------------------------------------------------------- set-up
    def _create_tracker(self) -> tuple[Any, TrackerState]:
        """Build the tracker from the parameters, run it once, and describe it for diagnostics."""
        from hit_core.tracking import Tracker

        params = self.params
        checkpoint = params.checkpoint
        if checkpoint is not None:
            checkpoint = str(Path(checkpoint).expanduser())
            if not Path(checkpoint).is_file():
                raise ConfigError(
                    f"parameter 'checkpoint' names {params.checkpoint!r}, which is not a file; give the path of a "
                    f"HiT checkpoint or leave it empty for the bundled weights"
                )
            weights = checkpoint
            untrained = False
        else:
            from hit_core.models.checkpoint import resolve_checkpoint

            resolved = resolve_checkpoint(None, params.variant)
            untrained = resolved is None
            weights = "UNTRAINED (random weights)" if untrained else f"bundled: {resolved}"
            checkpoint = None if resolved is None else str(resolved)
        if untrained:
            self.get_logger().warning(
                f"NO WEIGHTS: parameter 'checkpoint' is empty and no bundled weights exist for variant "
                f"{params.variant!r}: the network is UNTRAINED and its boxes are meaningless. Set 'checkpoint' "
                f"to a trained HiT checkpoint."
            )
        started = time.perf_counter()
        tracker = Tracker.from_options(
            variant=params.variant,
            checkpoint=checkpoint,
            backend=params.backend,
            threads=params.threads,
            device=params.device,
            engine_cache_dir=params.engine_cache_dir,
            precision=params.precision,
        )
        loaded = time.perf_counter()
        # The first inference of every runtime is slow (allocation, graph optimisation); pay it now, not on
        # the operator's first set_target. A model that cannot run fails here, at start-up.
        warmup_frame = np.full((_WARMUP_FRAME_SIDE, _WARMUP_FRAME_SIDE, 3), 114, dtype=np.uint8)
        quarter = _WARMUP_FRAME_SIDE / 4
        try:
            tracker.initialize(warmup_frame, (quarter, quarter, 2 * quarter, 2 * quarter))
            tracker.track(warmup_frame)
        except BaseException:
            tracker.close()
            raise
        self.get_logger().info(
            f"model HiT-{tracker.variant} ({params.precision}) on {tracker.backend_name} ({tracker.backend.runtime}) "
            f"loaded in "
            f"{loaded - started:.1f} s, warmed up in {(time.perf_counter() - loaded) * 1e3:.0f} ms; weights: {weights}"
        )
        status = TrackerState(
            backend=tracker.backend_name,
            runtime=tracker.backend.runtime,
            model=f"HiT-{tracker.variant}/{params.precision}",
            weights=weights,
            untrained=untrained,
        )
        return tracker, status

    @property
    def backend_name(self) -> str:
        """The runtime actually used (``auto`` resolved)."""
        return self._tracker.backend_name

    @property
    def hardware_id(self) -> str:
        return self.params.diagnostics.hardware_id or f"{self.params.device}/{self.backend_name}"

    # ------------------------------------------------------------------------------------------- image input
    def _on_image_with_info(self, msg: Any, info: dict) -> None:
        self._count_missed(info)
        self.handle_image(msg)

    def _count_missed(self, info: dict) -> None:
        """Count frames a publisher sent that never reached this callback, from its sequence-number gaps.

        With a depth-1 queue, frames that arrive while the executor is busy replace each other unseen (and
        best-effort transport may lose some); only the publisher's sequence numbers reveal them.
        """
        sequence, publisher = info.get("publication_sequence_number"), info.get("publisher_gid")
        if not sequence or not publisher:
            return
        key = bytes(publisher["data"])
        previous = self._last_sequence.get(key)
        self._last_sequence[key] = sequence
        if previous is not None and sequence > previous + 1:
            self.telemetry.frames_missed(sequence - previous - 1)

    def _on_incompatible_qos(self, event: Any) -> None:
        policy = qos_policy_name_from_kind(event.last_policy_kind)
        text = (
            f"a publisher on {self._image_sub.topic_name} offers QoS incompatible with this subscription "
            f"({policy}); no images from it will arrive. Match it with the qos_overrides parameters "
            f"(see config/tracker.yaml)"
        )
        self.telemetry.note_error(text)
        self.get_logger().warning(text, throttle_duration_sec=_LOG_THROTTLE_S)

    def handle_image(self, msg: Any) -> None:
        """Subscription callback: validate the header and layout, drop stale frames, buffer, hand over."""
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        received_ns = self.get_clock().now().nanoseconds
        self.telemetry.frame_received(zero_stamp=stamp_ns == 0)
        if not self._compressed:
            try:
                check_image(msg)
            except ImageMessageError as error:
                self._bad_message(error)
                return
        if self._too_old(stamp_ns, received_ns):
            self.telemetry.frame_dropped("too_old")
            return
        frame = ReceivedFrame(message=msg, stamp_ns=stamp_ns, compressed=self._compressed)
        self._ring.push(frame)
        if self._mailbox.put(frame) is not None:
            self.telemetry.frame_dropped("busy")

    def _too_old(self, stamp_ns: int, now_ns: int) -> bool:
        return self._max_age_ns > 0 and stamp_ns != 0 and now_ns - stamp_ns > self._max_age_ns

    def _bad_message(self, error: Exception) -> None:
        text = f"bad image message dropped: {error}"
        self.telemetry.frame_dropped("bad_message", text)
        self.get_logger().warning(text, throttle_duration_sec=_LOG_THROTTLE_S)

    def _to_array(self, frame: ReceivedFrame) -> tuple[np.ndarray, str]:
        if frame.compressed:
            return compressed_to_array(frame.message)
        return image_to_array(frame.message)

    # ------------------------------------------------------------------------------------------------ worker
    def start(self) -> None:
        """Start the worker thread that tracks the newest received frame (``main`` does this)."""
        self._worker.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            self.process_next(timeout_s=0.5)

    def process_next(self, timeout_s: float) -> dict[str, float] | None:
        """Wait up to ``timeout_s`` for the newest frame and process it (see :meth:`process`); never raises."""
        frame = self._mailbox.take(timeout_s=timeout_s)
        if frame is None:
            return None
        try:
            return self.process(frame)
        except Exception as error:  # the worker must survive anything; say what happened
            self.telemetry.note_error(f"{type(error).__name__}: {error}")
            self.get_logger().error(
                f"unexpected error while processing a frame: {type(error).__name__}: {error}",
                throttle_duration_sec=_LOG_THROTTLE_S,
            )
            return None

    def process(self, frame: ReceivedFrame) -> dict[str, float] | None:
        """Track one frame and publish its detections; returns the stage latencies in ms (None if not tracked).

        Runs on the worker thread. Idle: publishes an empty array with the frame's header. Frames older than
        ``max_image_age_ms``, and frames not newer than the one the tracker's state comes from (the frame the
        target was set on, or the last tracked one: a re-sent or out-of-order image would move the target back
        in time), are dropped, not tracked. Every
        frame ends up counted once: processed (answered with a Detection2DArray), dropped, or a model error.
        """
        with self._tracker_lock:
            if self._status.state == "idle":
                self._publish(self._empty_detections(frame.message.header))
                self.telemetry.frame_processed({}, None)
                return None
            if self._state_stamp_ns and frame.stamp_ns <= self._state_stamp_ns:
                self.telemetry.frame_dropped("too_old")
                return None
            if self._too_old(frame.stamp_ns, self.get_clock().now().nanoseconds):
                self.telemetry.frame_dropped("too_old")
                return None
            started = time.perf_counter()
            try:
                array, color = self._to_array(frame)
            except ImageMessageError as error:
                self._bad_message(error)
                return None
            converted = time.perf_counter()
            try:
                result = self._tracker.track(array, color=color)
            except Exception as error:  # a backend failure must not take the node down
                text = f"tracking failed on the frame stamped {_stamp_text(frame.stamp_ns)}: {error}"
                self.telemetry.model_error(text)
                self.get_logger().error(text, throttle_duration_sec=_LOG_THROTTLE_S)
                return None
            lost = result.score < self.params.lost_score_threshold
            header = frame.message.header
            if lost:
                detections = self._empty_detections(header)
            else:
                height, width = array.shape[:2]
                detections = self._detections(header, result.box, result.score, width, height)
            with self._status_lock:
                self._status.state = "lost" if lost else "tracking"
                self._status.score = result.score
                if not lost and self._target_requested_at is not None:
                    self._status.time_to_first_box_ms = (time.perf_counter() - self._target_requested_at) * 1e3
                    self._target_requested_at = None
            self._state_stamp_ns = frame.stamp_ns
            self._publish(detections)
            finished = time.perf_counter()
        tracker_ms = result.timings_ms
        latency = {
            "convert": (converted - started) * 1e3,
            "preprocess": tracker_ms.get("preprocess", math.nan),
            "inference": tracker_ms.get("inference", math.nan),
            "postprocess": tracker_ms.get("postprocess", math.nan),
            "total": (finished - started) * 1e3,
        }
        latency["overhead"] = latency["total"] - tracker_ms.get("total", math.nan)
        age_ms = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e6 if frame.stamp_ns else None
        self.telemetry.frame_processed(latency, age_ms)
        return latency

    def _publish(self, detections: Any) -> None:
        self._detections_pub.publish(detections)
        self.telemetry.detections_published()

    @staticmethod
    def _empty_detections(header: Any) -> Any:
        return Detection2DArray(header=header)

    def _detections(self, header: Any, box: np.ndarray, score: float, width: int, height: int) -> Any:
        x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
        x1, y1 = min(float(width), float(box[0] + box[2])), min(float(height), float(box[1] + box[3]))
        detection = Detection2D(header=header, id=self._status.track_id)
        detection.bbox.center.position.x = (x0 + x1) / 2
        detection.bbox.center.position.y = (y0 + y1) / 2
        detection.bbox.size_x = max(0.0, x1 - x0)
        detection.bbox.size_y = max(0.0, y1 - y0)
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = self.params.class_id
        hypothesis.hypothesis.score = float(score)
        detection.results = [hypothesis]
        return Detection2DArray(header=header, detections=[detection])

    # ---------------------------------------------------------------------------------------------- services
    def _on_set_target(self, request: Any, response: Any) -> Any:
        requested_at = time.perf_counter()
        try:
            response.track_id = self.set_target(request.header.stamp, request.bbox, requested_at)
            response.success = True
            response.message = f"tracking target {response.track_id}"
            self.get_logger().info(response.message)
        except (TargetRejected, ConfigError) as error:
            response.success, response.track_id, response.message = False, "", str(error)
            self.get_logger().warning(f"set_target rejected: {error}", throttle_duration_sec=_LOG_THROTTLE_S)
        except Exception as error:  # a model failure while initialising is an answer, not a crash
            text = f"the tracker failed to initialise: {type(error).__name__}: {error}"
            self.telemetry.model_error(text)
            response.success, response.track_id, response.message = False, "", text
            self.get_logger().error(text, throttle_duration_sec=_LOG_THROTTLE_S)
        return response

    def set_target(self, stamp: Any, bbox: Any, requested_at: float | None = None) -> str:
        """Initialise on the buffered frame stamped ``stamp`` (zero: the latest) with ``bbox`` (centre, size, px).

        Returns the new track id; raises :class:`TargetRejected` saying why a request cannot be served.
        """
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        frame = self._find_frame(stamp_ns)
        try:
            array, color = self._to_array(frame)
        except ImageMessageError as error:
            raise TargetRejected(
                f"the frame stamped {_stamp_text(frame.stamp_ns)} cannot be decoded: {error}"
            ) from None
        height, width = array.shape[:2]
        box = self._checked_box(bbox, width, height)
        track_id = uuid.uuid4().hex[:12]
        with self._tracker_lock:
            self._tracker.initialize(array, box, color=color)
            self._state_stamp_ns = frame.stamp_ns
            with self._status_lock:
                self._status.state = "tracking"
                self._status.track_id = track_id
                self._status.score = None
                self._status.time_to_first_box_ms = None
                self._target_requested_at = requested_at if requested_at is not None else time.perf_counter()
        return track_id

    def _find_frame(self, stamp_ns: int) -> ReceivedFrame:
        held = self._ring.stamp_range_ns()
        if held is None:
            raise TargetRejected(
                f"no image received yet on {self._image_sub.topic_name}; start the camera (or check the topic "
                f"remapping and QoS) and call set_target again"
            )
        frame = self._ring.latest() if stamp_ns == 0 else self._ring.find(
            stamp_ns, int(self.params.stamp_tolerance_ms * 1e6)
        )
        if frame is not None:
            return frame
        raise TargetRejected(
            f"no buffered frame is stamped {_stamp_text(stamp_ns)} (within {self.params.stamp_tolerance_ms:g} ms); "
            f"the buffer holds {len(self._ring)} frames stamped {_stamp_text(held[0])} to {_stamp_text(held[1])}. "
            f"Send the stamp of a recent image (or a zero stamp for the latest), or raise frame_buffer_size"
        )

    def _checked_box(self, bbox: Any, width: int, height: int) -> tuple[float, float, float, float]:
        cx, cy = float(bbox.center.position.x), float(bbox.center.position.y)
        w, h = float(bbox.size_x), float(bbox.size_y)
        if not all(math.isfinite(value) for value in (cx, cy, w, h)):
            raise TargetRejected(f"box centre ({cx}, {cy}) and size {w} x {h} must be finite numbers")
        if w <= 0 or h <= 0:
            raise TargetRejected(f"box size must be positive, got {w} x {h} px")
        x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
        x1, y1 = min(float(width), cx + w / 2), min(float(height), cy + h / 2)
        if x1 <= x0 or y1 <= y0:
            raise TargetRejected(
                f"box centred at ({cx:g}, {cy:g}) of size {w:g} x {h:g} lies outside the {width} x {height} "
                f"image; give the centre and size in that image's pixels"
            )
        minimum = self.params.min_box_size
        if x1 - x0 < minimum or y1 - y0 < minimum:
            raise TargetRejected(
                f"box is {x1 - x0:g} x {y1 - y0:g} px after clipping to the {width} x {height} image, smaller "
                f"than set_target.min_box_size = {minimum:g} px; draw a larger box"
            )
        return x0, y0, x1 - x0, y1 - y0

    def _on_reset(self, request: Any, response: Any) -> Any:
        with self._tracker_lock, self._status_lock:
            previous = self._status.track_id if self._status.state != "idle" else ""
            self._status.state = "idle"
            self._status.track_id = ""
            self._status.score = None
            self._target_requested_at = None
            self._state_stamp_ns = 0
        response.success = True
        response.message = f"stopped tracking target {previous}" if previous else "was not tracking"
        self.get_logger().info(response.message)
        return response

    # ------------------------------------------------------------------------------------------- diagnostics
    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticArray`` on ``/diagnostics`` (the timer calls this every period)."""
        with self._status_lock:
            status = dataclasses.replace(self._status)
        name = f"{self.get_fully_qualified_name().lstrip('/')}: tracker"
        message = DiagnosticArray()
        message.header.stamp = self.get_clock().now().to_msg()
        message.status = [
            diagnostic_status(name, self.hardware_id, self.telemetry.snapshot(), status, self.params.diagnostics)
        ]
        self._diagnostics_pub.publish(message)

    # ---------------------------------------------------------------------------------------------- shutdown
    def close(self) -> None:
        """Stop the worker and release the tracker (idempotent)."""
        self._stop.set()
        self._mailbox.close()
        if self._worker.is_alive():
            self._worker.join(timeout=10.0)
        with self._tracker_lock:
            if not self._closed:
                self._closed = True
                self._tracker.close()


def _stamp_text(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run hit_ros tracker_node``; returns the process exit status.

    SIGINT and SIGTERM (Ctrl-C, ``ros2 launch`` shutting down) stop the node cleanly. The node installs its
    own handlers instead of rclpy's, whose KeyboardInterrupt can land in the middle of the clean-up.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = TrackerNode()
    except HitError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {error}")
        rclpy.try_shutdown()
        return 1
    except KeyboardInterrupt:  # Ctrl-C while the model was loading
        rclpy.try_shutdown()
        return 130
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node.start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
