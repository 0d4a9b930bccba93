"""Play a bag into a running tracker node and record what a robot would have seen.

``python -m hit_ros.bag_replay BAG --output replay.json`` (``hit bag replay`` runs it and scores
the record; see ``hit_core.eval.rosbag_replay`` for the rules):

1. waits for the node's ``set_target`` service (optionally starting the node first, ``--start-node``);
2. publishes frame 0, then calls ``~/set_target`` with that frame's stamp and the first ground-truth
   box (or ``--box``);
3. plays the remaining frames at the recorded rate (times ``--rate``), recording ``~/detections``
   and ``/diagnostics``;
4. writes the ``hit_ros.replay/1`` JSON record.

Players: ``builtin`` (this process publishes the recorded messages as they are, with
``header.stamp`` set to the wall-clock time of publishing, so the node's image-age checks see fresh
frames and latency is measured from the stamp) or ``ros2`` (``ros2 bag play``: stamps stay as
recorded, so a node started here gets ``max_image_age_ms:=0``; latency is then measured from the
moment this process receives each image).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from hit_core.errors import ConfigError, HitError
from hit_core.eval.rosbag import (
    COMPRESSED_IMAGE_TYPE,
    DEFAULT_RATE_HZ,
    TrackingBag,
    bbox_to_box,
    box_to_center,
    open_tracking_bag,
    restamp_cdr,
)
from hit_core.eval.rosbag_replay import REPLAY_FORMAT
from hit_ros.srv import SetTarget

PLAYERS = ("builtin", "ros2")
_NODE_STOP_TIMEOUT_S = 15.0
_INIT_ATTEMPTS = 20


def build_parser() -> argparse.ArgumentParser:
    """Options of the player; ``hit bag replay`` passes them through."""
    parser = argparse.ArgumentParser(prog="python -m hit_ros.bag_replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or SQLite3)")
    parser.add_argument("--output", type=Path, required=True, help="where to write the JSON record")
    parser.add_argument("--image-topic", help="image topic of the bag (default: its only image topic)")
    parser.add_argument("--gt-topic", help="ground-truth topic of the bag (default: its only Detection2D[Array] topic)")
    parser.add_argument("--box", help="initial box x,y,w,h in pixels (default: the first ground-truth box)")
    parser.add_argument("--node", default="/hit_tracker", help="fully qualified name of the tracker node")
    parser.add_argument("--player", choices=PLAYERS, default="builtin", help="who publishes the images")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (1 = recorded rate)")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to wait for the node to come up")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to keep listening after the last frame")
    parser.add_argument("--start-node", action="store_true", help="start the tracker node here and stop it after")
    parser.add_argument("--node-log", type=Path, help="file for the started node's output")
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="parameter for the started node (repeatable), e.g. backend:=onnxruntime",
    )
    parser.add_argument("--params-file", type=Path, help="parameters YAML for the started node")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one replay; returns 0 on success, 1 on a failure (explained on stderr)."""
    args = build_parser().parse_args(argv)
    # A terminated replay still stops the node it started (the finally blocks run).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        record = replay(args)
    except HitError as error:
        print(f"bag_replay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bag_replay: interrupted", file=sys.stderr)
        return 130
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_name(args.output.name + ".tmp")
    temporary.write_text(json.dumps(record), encoding="utf-8")
    temporary.replace(args.output)
    return 0


def _parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise ConfigError(f"--box {text!r}: expected four numbers x,y,w,h") from None
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise ConfigError(f"--box {text!r}: expected x,y,w,h with positive width and height")
    return values  # type: ignore[return-value]


def replay(args: argparse.Namespace) -> dict[str, Any]:
    """Do the replay described by ``args`` and return the JSON-ready record."""
    if not (args.rate > 0 and math.isfinite(args.rate)):
        raise ConfigError(f"--rate must be a positive factor, got {args.rate}")
    with open_tracking_bag(args.bag, image_topic=args.image_topic, ground_truth_topic=args.gt_topic) as bag:
        if args.box:
            init_box = _parse_box(args.box)
        else:
            first = bag.ground_truth[0]
            if not all(math.isfinite(v) for v in first):
                raise ConfigError(
                    f"bag {args.bag} has no ground-truth box for its first frame; give the initial box with --box"
                )
            init_box = tuple(float(v) for v in first)
        node = StartedNode.start(args, bag) if args.start_node else None
        try:
            return _run(args, bag, init_box, node)
        finally:
            if node is not None:
                node.stop()


@dataclass
class StartedNode:
    """A tracker node this replay started (``--start-node``), a child process in the replay's process group."""

    process: subprocess.Popen
    command: list[str]
    parameters: dict[str, str]

    @staticmethod
    def start(args: argparse.Namespace, bag: TrackingBag) -> StartedNode:
        """Start ``hit_ros.tracker_node`` listening to the bag's image topic.

        Defaults set here: ``image_transport`` after the bag's image type and
        ``lost_score_threshold:=0.0`` (the node then publishes a box for every frame, like the
        offline tracker, so the two scores compare); with the builtin player a reliable image
        subscription (the player publishes reliable, as camera drivers do; Fast DDS loses most
        fragmented images best effort: 44-53 % of 720p frames at 30 Hz, and often frame 0, so
        set_target failed); with ``--player ros2`` ``max_image_age_ms:=0.0`` instead because
        ``ros2 bag play`` keeps the recorded stamps (and its QoS). ``--params-file`` and
        ``--node-param`` override them.
        """
        compressed = bag.image_type == COMPRESSED_IMAGE_TYPE
        namespace, _, node_name = args.node.rstrip("/").rpartition("/")
        command = [sys.executable, "-m", "hit_ros.tracker_node", "--ros-args", "-r", f"__node:={node_name}"]
        if namespace:
            command += ["-r", f"__ns:={namespace}"]
        command += ["-r", f"{'image/compressed' if compressed else 'image'}:={bag.image_topic}"]
        parameters = {"image_transport": "compressed" if compressed else "raw", "lost_score_threshold": "0.0"}
        if args.player == "ros2":
            parameters["max_image_age_ms"] = "0.0"
        else:
            topic = bag.image_topic if bag.image_topic.startswith("/") else f"{namespace}/{bag.image_topic}"
            parameters[f"qos_overrides.{topic}.subscription.reliability"] = "reliable"
        if args.params_file:
            command += ["--params-file", str(args.params_file)]
            for key in list(parameters):
                if key != "image_transport":
                    del parameters[key]
        for item in args.node_param:
            key, separator, value = item.partition(":=")
            if not separator or not key:
                raise ConfigError(f"--node-param {item!r}: expected NAME:=VALUE, e.g. backend:=onnxruntime")
            parameters[key] = value
        for key, value in parameters.items():
            command += ["-p", f"{key}:={value}"]
        log = open(args.node_log, "w", encoding="utf-8") if args.node_log else subprocess.DEVNULL  # noqa: SIM115
        try:
            # Same process group as the replay: a Ctrl-C or a kill of the group reaches the node too.
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        finally:
            if args.node_log:
                log.close()
        return StartedNode(process, command, parameters)

    def stop(self) -> None:
        """Interrupt the node (as Ctrl-C would) and wait; kill it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=_NODE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run(args: argparse.Namespace, bag: TrackingBag, init_box: tuple, node: StartedNode | None) -> dict:
    rclpy.init(args=None)
    recorder = Recorder(args, bag)
    # Not MultiThreadedExecutor: its busy-wait (rclpy#1452) stalled this player for up to 0.9 s at a time.
    executor = SingleThreadedExecutor()
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        recorder.wait_for_node(args.wait, node.process if node else None)
        if args.player == "builtin":
            init = _play_builtin(recorder, bag, init_box, args.rate)
        else:
            init = _play_ros2(recorder, bag, init_box, args)
        time.sleep(args.grace)
        frames = recorder.frames_table(len(bag))
        node_info: dict[str, Any] = {"started": node is not None}
        if node is not None:
            node_info.update(command=node.command, parameters=node.parameters, alive_at_end=node.process.poll() is None)
        rate_hz = (bag.rate_hz or DEFAULT_RATE_HZ) * args.rate
        with recorder.lock:
            return {
                "format": REPLAY_FORMAT,
                "bag": str(bag.path),
                "image_topic": bag.image_topic,
                "player": args.player,
                "node_name": args.node,
                "rate_hz": rate_hz,
                "period_ns": int(round(1e9 / rate_hz)),
                "init": init,
                "frames": frames,
                "detections": list(recorder.detections),
                "diagnostics": list(recorder.diagnostics),
                "node": node_info,
            }
    finally:
        executor.shutdown()
        recorder.destroy_node()
        rclpy.try_shutdown()


class Recorder(Node):
    """The replay's ROS side: image publisher (or listener), set_target client, and the recorder
    of ``~/detections`` and ``/diagnostics`` (times are wall-clock ns, ``time.time_ns()``)."""

    def __init__(self, args: argparse.Namespace, bag: TrackingBag) -> None:
        super().__init__("hit_bag_replay")
        self.args = args
        self.bag = bag
        self.lock = threading.Lock()
        self.detections: list[dict] = []
        self.diagnostics: list[dict] = []
        self.seen: dict[int, int] = {}  # image stamp -> receive time (external player)
        self.sent: dict[int, tuple[int, int]] = {}  # frame index -> (stamp, sent time)
        self.first_image = threading.Event()
        image_type = CompressedImage if bag.image_type == COMPRESSED_IMAGE_TYPE else Image
        node = args.node.rstrip("/")
        self.client = self.create_client(SetTarget, f"{node}/set_target")
        detections_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(Detection2DArray, f"{node}/detections", self._on_detections, detections_qos)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        if args.player == "builtin":
            # A camera driver's default (reliable); the node's best-effort subscription matches it.
            image_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
            self.images = self.create_publisher(image_type, bag.image_topic, image_qos)
        else:
            listen_qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.BEST_EFFORT
            )
            self.create_subscription(image_type, bag.image_topic, self._on_image, listen_qos)

    def _on_detections(self, message: Any) -> None:
        received = time.time_ns()
        stamp = message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec
        if message.detections:
            detection = message.detections[0]
            box = [float(v) for v in bbox_to_box(detection.bbox)]
            score = float(detection.results[0].hypothesis.score) if detection.results else 0.0
        else:
            box, score = None, 0.0
        with self.lock:
            self.detections.append({"stamp_ns": stamp, "received_ns": received, "box": box, "score": score})

    def _on_diagnostics(self, message: Any) -> None:
        entry = {
            "received_ns": time.time_ns(),
            "status": [
                {
                    "name": status.name,
                    "level": int.from_bytes(status.level, "little")
                    if isinstance(status.level, bytes)
                    else int(status.level),
                    "message": status.message,
                    "hardware_id": status.hardware_id,
                    "values": {kv.key: kv.value for kv in status.values},
                }
                for status in message.status
            ],
        }
        with self.lock:
            self.diagnostics.append(entry)

    def _on_image(self, message: Any) -> None:
        stamp = message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec
        with self.lock:
            self.seen.setdefault(stamp, time.time_ns())
        self.first_image.set()

    def wait_for_node(self, timeout_s: float, process: subprocess.Popen | None) -> None:
        """Block until the node's set_target service exists; fail clearly on timeout or a dead node."""
        deadline = time.monotonic() + timeout_s
        while not self.client.wait_for_service(timeout_sec=0.5):
            if process is not None and process.poll() is not None:
                raise ConfigError(
                    f"the tracker node exited with status {process.returncode} before its set_target "
                    f"service came up; see {self.args.node_log or 'its output'}"
                )
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"no service {self.client.srv_name} after {timeout_s:g} s: start the tracker node "
                    f"(ros2 run hit_ros tracker_node) or pass --start-node, and check --node and ROS_DOMAIN_ID"
                )

    def set_target(self, stamp_ns: int, box: tuple) -> Any:
        """Call ``~/set_target`` for the frame stamped ``stamp_ns`` with ``box`` (x, y, w, h); return the response."""
        request = SetTarget.Request()
        request.header.stamp.sec, request.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        cx, cy, w, h = box_to_center(box)
        request.bbox.center.position.x, request.bbox.center.position.y = cx, cy
        request.bbox.size_x, request.bbox.size_y = w, h
        future = self.client.call_async(request)
        deadline = time.monotonic() + 60.0
        while not future.done():
            if time.monotonic() > deadline:
                raise ConfigError(f"{self.client.srv_name} did not answer within 60 s")
            time.sleep(0.005)
        return future.result()

    def frames_table(self, count: int) -> dict[str, list[int]]:
        """Per bag frame: the stamp it was published with and when (-1 where never seen)."""
        stamps, sent = [-1] * count, [-1] * count
        with self.lock:
            if self.args.player == "builtin":
                for index, (stamp, time_ns) in self.sent.items():
                    stamps[index], sent[index] = stamp, time_ns
            else:
                for index, stamp in enumerate(int(s) for s in self.bag.stamps_ns):
                    if stamp in self.seen:
                        stamps[index], sent[index] = stamp, self.seen[stamp]
        return {"stamp_ns": stamps, "sent_ns": sent}


def _play_builtin(recorder: Recorder, bag: TrackingBag, init_box: tuple, rate: float) -> dict:
    deadline = time.monotonic() + 30.0
    while recorder.images.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"nobody subscribes to {bag.image_topic} after 30 s: remap the node's 'image' input to it "
                f"(-r image:={bag.image_topic}) or pass --start-node"
            )
        time.sleep(0.05)
    messages = bag.raw_images()
    _, first = next(messages)
    # Best-effort delivery may lose frame 0 before the node has it: send it again (new stamp) and retry.
    for _ in range(_INIT_ATTEMPTS):
        stamp = time.time_ns()
        recorder.images.publish(restamp_cdr(first, stamp))
        sent = time.time_ns()
        time.sleep(0.1)
        answer = recorder.set_target(stamp, init_box)
        if answer.success:
            break
    if not answer.success:
        raise ConfigError(f"the node rejected the initial box {init_box}: {answer.message}")
    with recorder.lock:
        recorder.sent[0] = (stamp, sent)
    bag_stamps = bag.stamps_ns
    start = time.monotonic()
    for index, raw in messages:
        due = start + (int(bag_stamps[index]) - int(bag_stamps[1])) / 1e9 / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        stamp = time.time_ns()
        recorder.images.publish(restamp_cdr(raw, stamp))
        with recorder.lock:
            recorder.sent[index] = (stamp, time.time_ns())
    return {"index": 0, "box": list(init_box), "track_id": answer.track_id, "message": answer.message}


def _play_ros2(recorder: Recorder, bag: TrackingBag, init_box: tuple, args: argparse.Namespace) -> dict:
    ros2 = shutil.which("ros2")
    if ros2 is None:
        raise ConfigError("--player ros2 needs the 'ros2' command (a ROS 2 install with rosbag2); use --player builtin")
    command = [ros2, "bag", "play", str(bag.path), "--topics", bag.image_topic, "--rate", repr(args.rate)]
    player = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not recorder.first_image.wait(timeout=60.0):
            raise ConfigError(f"no image arrived on {bag.image_topic} within 60 s of starting: {' '.join(command)}")
        first_stamp = int(bag.stamps_ns[0])
        with recorder.lock:
            seen_first = first_stamp in recorder.seen
        if not seen_first:
            raise ConfigError(
                "the first frame of the bag was not received (best-effort delivery); run the replay again"
            )
        answer = recorder.set_target(first_stamp, init_box)
        if not answer.success:
            raise ConfigError(f"the node rejected the initial box {init_box}: {answer.message}")
        _, error = player.communicate()
        if player.returncode != 0:
            raise ConfigError(f"'{' '.join(command)}' failed with status {player.returncode}: {error.strip()[-500:]}")
    finally:
        if player.poll() is None:
            player.send_signal(signal.SIGINT)
            player.wait(timeout=10.0)
    return {"index": 0, "box": list(init_box), "track_id": answer.track_id, "message": answer.message}


if __name__ == "__main__":
    sys.exit(main())
