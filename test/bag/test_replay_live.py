"""``hit bag replay``: a real tracker node (its own process, real rclpy over Fast DDS) fed by the player."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the bag tools need the 'rosbags' package (pip install rosbags)")

from hit_core.cli import main  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
REPLAY_TIMEOUT_S = 400


def _ros_harness() -> ModuleType:
    """The foundation's ROS test harness (test/ros/conftest.py): environment of ROS subprocesses
    and a DDS domain of this test session's own, so parallel sessions never see this node."""
    name = "hit_ros_test_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "test" / "ros" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def ros_environment() -> dict[str, str]:
    harness = _ros_harness()
    executable = harness.INSTALL_PREFIX / "lib" / "hit_ros" / "tracker_node"
    reason = None if executable.is_file() else f"hit_ros is not built ({executable} missing): run `make build`"
    if reason is None:
        env = harness.ros_env()
        probe = subprocess.run(
            [sys.executable, "-c", "import rclpy, vision_msgs.msg, hit_ros.srv"],
            env=env,
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            reason = f"the ROS 2 environment does not import: {probe.stderr.strip().splitlines()[-1:]}"
    if reason is not None:
        if os.environ.get("HIT_REQUIRE_ROS") == "1":
            pytest.fail(f"the live replay test is required here (HIT_REQUIRE_ROS=1) but cannot run: {reason}")
        pytest.skip(reason)
    return env


def _replay(env: dict[str, str], bag: Path, output: Path, checkpoint: Path, *options: str) -> str:
    """Run ``hit bag replay`` with a node started for it; return its stdout (fail with all logs)."""
    model = ["--backend", "torch", "--checkpoint", str(checkpoint), "--threads", "1"]
    command = [sys.executable, "-m", "hit_core", "bag", "replay", str(bag), "--output", str(output), "--start-node"]
    # Its own process group: on a timeout the command, the player and the node all go.
    process = subprocess.Popen(
        [*command, *model, *options],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=REPLAY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    node_log = output / "node.log"
    assert process.returncode == 0, (
        f"{stdout[-3000:]}\n{stderr[-3000:]}\n"
        f"node log:\n{node_log.read_text()[-3000:] if node_log.is_file() else '(none)'}"
    )
    assert "latency p50" in stdout and "outputs in" in stdout
    return stdout


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("player", ["builtin", "ros2"])
def test_live_replay_end_to_end(
    ros_environment: dict[str, str], short_crossing: Path, tiny_checkpoint: Path, tmp_path: Path, player: str
) -> None:
    if player == "ros2" and shutil.which("ros2", path=ros_environment.get("PATH")) is None:
        pytest.skip("'ros2 bag play' needs a ROS 2 install with rosbag2 (the PyPI wheels have no ros2 command)")
    bag = tmp_path / "bag"
    assert main(["bag", "make", str(short_crossing), str(bag)]) == 0
    output = tmp_path / "replay"
    _replay(ros_environment, bag, output, tiny_checkpoint, "--player", player)

    record = json.loads((output / "replay.json").read_text())
    frame_count = 20
    published = record["frames"]["stamp_ns"]
    assert len(published) == frame_count and published[0] > 0
    if player == "builtin":
        assert min(published) > 0, "the builtin player sends every frame"
    assert record["node"]["started"] and record["node"]["alive_at_end"]
    reliability = record["node"]["parameters"].get(f"qos_overrides.{record['image_topic']}.subscription.reliability")
    # The started node matches the builtin player's reliable images; ros2 bag play keeps the recorded QoS.
    assert reliability == ("reliable" if player == "builtin" else None)
    assert record["init"]["track_id"]
    # Detections carry the stamps of the published images (the node copies the header).
    stamps = {d["stamp_ns"] for d in record["detections"]}
    assert stamps and stamps <= {stamp for stamp in published if stamp > 0}

    summary = json.loads((output / "summary.json").read_text())
    live = summary["live"]
    assert live["frames"] == frame_count
    assert live["answered"] + live["dropped"] == frame_count - 1
    assert live["answered"] >= 1 and 0.0 <= live["drop_rate"] < 100.0
    assert 0.0 < live["latency_p50_ms"] <= live["latency_p95_ms"] <= live["latency_max_ms"]
    assert live["auc"] is not None and summary["offline"]["auc"] is not None

    # What the node reported on /diagnostics while it ran.
    statuses = [s for message in record["diagnostics"] for s in message["status"]]
    assert any("frames_processed" in status["values"] for status in statuses)
    diagnostics = json.loads((output / "diagnostics.json").read_text())
    assert len(diagnostics["messages"]) == len(record["diagnostics"])

    rows = (output / "frames.csv").read_text().splitlines()
    assert len(rows) == frame_count + 1
    latency_report = (output / "latency.md").read_text()
    assert "latency p50 / p95 / max" in latency_report and "## Diagnostics" in latency_report
    table = (output / "report.md").read_text()
    assert "| live |" in table and "| offline |" in table
    robot_boxes = np.loadtxt(output / "live" / "Crossing.txt", delimiter=",")
    assert robot_boxes.shape == (frame_count, 4)

    import cv2

    video = cv2.VideoCapture(str(output / "replay.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == frame_count
    video.release()


@pytest.mark.ros
@pytest.mark.slow
def test_live_replay_of_compressed_images(
    ros_environment: dict[str, str], short_crossing: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    assert main(["bag", "make", str(short_crossing), str(bag), "--compressed"]) == 0
    output = tmp_path / "replay"
    _replay(ros_environment, bag, output, tiny_checkpoint, "--no-offline", "--no-video")
    record = json.loads((output / "replay.json").read_text())
    assert record["image_topic"] == "/camera/image_raw/compressed"
    assert record["node"]["parameters"]["image_transport"] == "compressed"
    summary = json.loads((output / "summary.json").read_text())
    assert summary["live"]["answered"] >= 1 and summary["offline"] is None
    assert not (output / "replay.mp4").exists()
