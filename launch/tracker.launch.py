"""Start the HiT tracker node for one camera.

    ros2 launch hit_ros tracker.launch.py namespace:=cam0 image_topic:=/cam0/image_raw \
        checkpoint:=/path/to/hit_tiny.pth backend:=onnxruntime

Arguments left empty keep the value from ``params_file`` (default: the package's config/tracker.yaml), so a
launch argument never silently overrides a parameters file. Nothing is installed or downloaded at launch.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

# Launch arguments named after the node parameter they set; applied only when not empty.
_PARAMETER_ARGUMENTS = {
    "variant": "HiT variant: tiny, small or base (empty: from params_file)",
    "checkpoint": "HiT checkpoint file (empty: from params_file, else the bundled weights)",
    "backend": "auto, onnxruntime, tensorrt or torch (empty: from params_file)",
    "precision": "fp32, fp16 or int8 (empty: from params_file)",
    "device": "cpu, cuda or cuda:N (empty: from params_file)",
    "engine_cache_dir": "where built ONNX models / TensorRT engines are cached (empty: from params_file)",
    "image_transport": "raw (sensor_msgs/Image) or compressed (CompressedImage) (empty: from params_file)",
    "class_id": "class_id of the published detections (empty: from params_file)",
}


def _tracker_node(context, *args, **kwargs):
    image_topic = LaunchConfiguration("image_topic").perform(context)
    overrides = {}
    for argument in _PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(argument).perform(context)
        if value:
            overrides[argument] = value
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() in ("true", "1", "yes")
    return [
        Node(
            package="hit_ros",
            executable="tracker_node",
            name=LaunchConfiguration("node_name"),
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[LaunchConfiguration("params_file"), {**overrides, "use_sim_time": use_sim_time}],
            remappings=[("image", image_topic), ("image/compressed", f"{image_topic}/compressed")],
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare("hit_ros"), "config", "tracker.yaml"])
    arguments = [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node (one per camera)"),
        DeclareLaunchArgument("node_name", default_value="hit_tracker", description="name of the node"),
        DeclareLaunchArgument(
            "image_topic",
            default_value="image",
            description="camera topic to track on; with image_transport:=compressed, <image_topic>/compressed is used",
        ),
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameters YAML file"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("log_level", default_value="info", description="debug, info, warn, error or fatal"),
    ]
    arguments += [
        DeclareLaunchArgument(argument, default_value="", description=description)
        for argument, description in _PARAMETER_ARGUMENTS.items()
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_tracker_node)])
