"""The ROS 2 package itself: generated interfaces, real cross-process service and topic traffic, install space."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

PYTHON = sys.executable

# vision_msgs 4.x, field for field (names and types as rosidl reports them). The test-only copy must match it
# so that its type hashes equal the real package's and nodes interoperate with real vision_msgs users.
VISION_MSGS_4_FIELDS = {
    "Point2D": {"x": "double", "y": "double"},
    "Pose2D": {"position": "vision_msgs/Point2D", "theta": "double"},
    "BoundingBox2D": {"center": "vision_msgs/Pose2D", "size_x": "double", "size_y": "double"},
    "ObjectHypothesis": {"class_id": "string", "score": "double"},
    "ObjectHypothesisWithPose": {
        "hypothesis": "vision_msgs/ObjectHypothesis",
        "pose": "geometry_msgs/PoseWithCovariance",
    },
    "Detection2D": {
        "header": "std_msgs/Header",
        "results": "sequence<vision_msgs/ObjectHypothesisWithPose>",
        "bbox": "vision_msgs/BoundingBox2D",
        "id": "string",
    },
    "Detection2DArray": {"header": "std_msgs/Header", "detections": "sequence<vision_msgs/Detection2D>"},
}

# The end of every helper process script: spin until the SIGINT that stops it, then clean up.
SPIN_UNTIL_INTERRUPTED = """
try:
    rclpy.spin(node)
except KeyboardInterrupt:
    pass
finally:
    node.destroy_node()
    rclpy.try_shutdown()
"""

# A SetTarget server in its own process: it accepts a box with positive size and echoes what it received, so
# the client can check that the request crossed the process boundary intact.
SET_TARGET_SERVER = """
import sys
import rclpy
from hit_ros.srv import SetTarget

def answer(request, response):
    box = request.bbox
    response.success = box.size_x > 0 and box.size_y > 0
    response.message = (
        f"{request.header.frame_id} {request.header.stamp.sec}.{request.header.stamp.nanosec:09d} "
        f"{box.center.position.x} {box.center.position.y} {box.center.theta} {box.size_x} {box.size_y}"
    )
    response.track_id = f"track-{request.header.stamp.sec}" if response.success else ""
    return response

rclpy.init()
node = rclpy.create_node("foundation_set_target_server")
node.create_service(SetTarget, sys.argv[1], answer)
print("serving", flush=True)
""" + SPIN_UNTIL_INTERRUPTED

# Publishes a Detection2DArray built from a JSON description (argv[1]) on argv[2] every 50 ms.
DETECTIONS_PUBLISHER = """
import json
import sys
import rclpy
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

def build(spec):
    message = Detection2DArray()
    message.header.stamp.sec, message.header.stamp.nanosec = spec["stamp"]
    message.header.frame_id = spec["frame_id"]
    for item in spec["detections"]:
        detection = Detection2D()
        detection.header = message.header
        detection.id = item["id"]
        detection.bbox.center.position.x, detection.bbox.center.position.y = item["center"]
        detection.bbox.center.theta = item["theta"]
        detection.bbox.size_x, detection.bbox.size_y = item["size"]
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = item["class_id"]
        hypothesis.hypothesis.score = item["score"]
        hypothesis.pose.pose.position.x = item["center"][0]
        hypothesis.pose.covariance = [float(i) for i in range(36)]
        detection.results.append(hypothesis)
        message.detections.append(detection)
    return message

rclpy.init()
node = rclpy.create_node("foundation_detections_publisher")
publisher = node.create_publisher(Detection2DArray, sys.argv[2], 10)
message = build(json.loads(sys.argv[1]))
node.create_timer(0.05, lambda: publisher.publish(message))
print("publishing", flush=True)
""" + SPIN_UNTIL_INTERRUPTED


def test_generated_set_target_interface() -> None:
    from hit_ros.srv import SetTarget

    assert SetTarget.Request.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "bbox": "vision_msgs/BoundingBox2D",
    }
    assert SetTarget.Response.get_fields_and_field_types() == {
        "success": "boolean",
        "message": "string",
        "track_id": "string",
    }


@pytest.mark.parametrize("name", sorted(VISION_MSGS_4_FIELDS))
def test_vision_msgs_match_upstream_4x(name: str) -> None:
    import vision_msgs.msg

    assert getattr(vision_msgs.msg, name).get_fields_and_field_types() == VISION_MSGS_4_FIELDS[name]


def test_set_target_answered_by_another_process(ros_process, ros_node, tmp_path: Path) -> None:
    from hit_ros.srv import SetTarget

    script = tmp_path / "set_target_server.py"
    script.write_text(SET_TARGET_SERVER)
    server = ros_process(PYTHON, script, "/foundation/set_target", name="server")
    server.wait_for_output("serving")
    client = ros_node.node.create_client(SetTarget, "/foundation/set_target")

    request = SetTarget.Request()
    request.header.frame_id = "camera_optical"
    request.header.stamp.sec, request.header.stamp.nanosec = 1718000000, 42
    request.bbox.center.position.x, request.bbox.center.position.y = 320.5, 240.25
    request.bbox.center.theta = 0.0
    request.bbox.size_x, request.bbox.size_y = 64.0, 48.0
    response = ros_node.call(client, request, timeout=30.0)
    assert response.success
    assert response.message == "camera_optical 1718000000.000000042 320.5 240.25 0.0 64.0 48.0"
    assert response.track_id == "track-1718000000"

    request.bbox.size_x = 0.0
    response = ros_node.call(client, request)
    assert not response.success
    assert response.track_id == ""


def test_detection_array_arrives_intact_in_another_process(ros_process, ros_node) -> None:
    from vision_msgs.msg import Detection2DArray

    spec = {
        "stamp": [1718000000, 123456789],
        "frame_id": "camera_optical",
        "detections": [
            {"id": "track-1", "center": [320.5, 240.25], "theta": 0.0, "size": [64.0, 48.0],
             "class_id": "person", "score": 0.875},
            {"id": "track-2", "center": [10.0, 20.0], "theta": 0.5, "size": [3.0, 4.0],
             "class_id": "target", "score": 0.25},
        ],
    }
    received: list[Detection2DArray] = []
    ros_node.node.create_subscription(Detection2DArray, "/foundation/detections", received.append, 10)
    publisher = ros_process(PYTHON, "-c", DETECTIONS_PUBLISHER, json.dumps(spec), "/foundation/detections",
                            name="publisher")
    publisher.wait_for_output("publishing")
    assert ros_node.spin_until(lambda: bool(received), timeout=30.0), "no Detection2DArray arrived within 30 s"

    message = received[0]
    assert (message.header.stamp.sec, message.header.stamp.nanosec) == tuple(spec["stamp"])
    assert message.header.frame_id == spec["frame_id"]
    assert len(message.detections) == len(spec["detections"])
    for detection, expected in zip(message.detections, spec["detections"], strict=True):
        assert detection.header == message.header
        assert detection.id == expected["id"]
        assert [detection.bbox.center.position.x, detection.bbox.center.position.y] == expected["center"]
        assert detection.bbox.center.theta == expected["theta"]
        assert [detection.bbox.size_x, detection.bbox.size_y] == expected["size"]
        (result,) = detection.results
        assert result.hypothesis.class_id == expected["class_id"]
        assert result.hypothesis.score == expected["score"]
        assert result.pose.pose.position.x == expected["center"][0]
        assert list(result.pose.covariance) == [float(i) for i in range(36)]


def _installed_executable() -> Path:
    """Where `ros2 run hit_ros tracker_node` finds the executable: <package prefix>/lib/hit_ros/tracker_node."""
    from ament_index_python.packages import get_package_prefix

    return Path(get_package_prefix("hit_ros")) / "lib" / "hit_ros" / "tracker_node"


def test_install_space_holds_the_whole_package(repo_root: Path) -> None:
    from ament_index_python.packages import get_package_share_directory

    executable = _installed_executable()
    assert executable.stat().st_mode & stat.S_IXUSR, f"{executable} is not executable"
    interpreter = executable.read_text().splitlines()[0].removeprefix("#!")
    assert os.access(interpreter, os.X_OK), f"{executable} names a missing interpreter {interpreter}"

    share = Path(get_package_share_directory("hit_ros"))
    for source_dir in ("launch", "config"):
        for source in filter(Path.is_file, (repo_root / source_dir).iterdir()):
            assert (share / source_dir / source.name).is_file(), f"{source_dir}/{source.name} is not installed"
    assert (share / "srv" / "SetTarget.srv").is_file()

    import hit_ros.srv

    site_packages = Path(hit_ros.srv.__file__).parents[2]
    for module in (repo_root / "hit_ros").glob("*.py"):
        assert (site_packages / "hit_ros" / module.name).is_file(), f"hit_ros/{module.name} is not installed"
    assert (site_packages / "hit_core" / "__init__.py").is_file()


def test_installed_tracker_node_starts_with_params_file(ros_process, ros_node, tmp_path: Path) -> None:
    from ament_index_python.packages import get_package_share_directory

    params_file = Path(get_package_share_directory("hit_ros")) / "config" / "tracker.yaml"
    node = ros_process(_installed_executable(), "--ros-args", "--params-file", params_file,
                       name="tracker_node", source_tree=False, cwd=tmp_path)

    def set_target_service() -> list[str] | None:
        if ("hit_tracker", "/") not in ros_node.node.get_node_names_and_namespaces():
            return None
        services = dict(ros_node.node.get_service_names_and_types_by_node("hit_tracker", "/"))
        return services.get("/hit_tracker/set_target")

    # The node joins the graph at once but offers its services only after building and warming up the tracker.
    ros_node.spin_until(lambda: set_target_service() is not None or not node.is_running(), timeout=120.0)
    assert set_target_service() == ["hit_ros/srv/SetTarget"], (
        f"tracker_node did not offer hit_tracker/set_target:\n{node.output()[-4000:]}"
    )
    ros_node.spin_until(lambda: not node.is_running(), timeout=2.0)
    assert node.is_running(), f"tracker_node exited:\n{node.output()[-4000:]}"
    assert node.stop() == 0, f"tracker_node did not shut down cleanly on SIGINT:\n{node.output()[-4000:]}"
