"""launch/tracker.launch.py, run through the real ROS 2 launch system where it is installed.

``launch`` and ``launch_ros`` have no PyPI wheels, so on a machine whose ROS 2 comes from the project's wheels
this test is skipped with that reason; on a ROS 2 install (``apt install ros-$ROS_DISTRO-launch-ros``) it runs.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import pytest


def _missing_launch_packages() -> list[str]:
    # The checkout's own launch/ folder is a namespace package named "launch", so look for real modules.
    checks = {"launch": "launch.launch_service", "launch_ros": "launch_ros.actions"}
    missing = []
    for name, module in checks.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


_MISSING = _missing_launch_packages()
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{' and '.join(_MISSING)} not installed: they have no PyPI wheel; install ROS 2's launch_ros "
    f"(apt install ros-$ROS_DISTRO-launch-ros) to run the launch file test",
)

LAUNCHER = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

arguments = dict(argument.split(":=", 1) for argument in sys.argv[2:])
service = LaunchService()
service.include_launch_description(
    IncludeLaunchDescription(PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=arguments.items())
)
sys.exit(service.run())
"""


def test_launch_file_starts_the_node_in_a_namespace_with_the_image_remapped(
    ros_process, ros_node, repo_root, tmp_path, data_dir
):
    import cv2
    import numpy as np
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from hit_ros.image_conversion import array_to_image

    launch_file = repo_root / "install" / "hit_ros" / "share" / "hit_ros" / "launch" / "tracker.launch.py"
    assert launch_file.is_file(), "colcon build installs the launch file into share/hit_ros/launch"
    params_file = repo_root / "install" / "hit_ros" / "share" / "hit_ros" / "config" / "tracker.yaml"
    process = ros_process(
        sys.executable, "-c", LAUNCHER, launch_file,
        "namespace:=launch_cam", "image_topic:=/launch_cam/camera/image_raw", f"params_file:={params_file}",
        "backend:=onnxruntime", f"engine_cache_dir:={tmp_path / 'cache'}", "class_id:=launched",
        name="launch",
    )
    process.wait_for_output(r"ready: HiT", timeout=180)
    assert "/launch_cam/camera/image_raw" in process.output(), "the image topic is remapped"

    received: list[Detection2DArray] = []
    node = ros_node.node
    node.create_subscription(Detection2DArray, "/launch_cam/hit_tracker/detections", received.append, 10)
    publisher = node.create_publisher(Image, "/launch_cam/camera/image_raw", 10)
    first_frame = sorted((data_dir / "OTB100" / "Crossing" / "img").glob("*.jpg"))[0]
    frame = cv2.cvtColor(cv2.imread(str(first_frame)), cv2.COLOR_BGR2RGB)
    msg = array_to_image(np.ascontiguousarray(frame), "rgb8")
    msg.header.frame_id = "launch_camera"
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        msg.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(msg)
        ros_node.spin_until(lambda: bool(received), timeout=0.5)
    assert received, f"no detections from the launched node:\n{process.output()[-3000:]}"
    assert received[0].header.frame_id == "launch_camera" and received[0].detections == []
    assert process.is_running()
