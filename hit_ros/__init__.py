"""hit_ros: the ROS 2 side of the HiT tracker (rclpy node, SetTarget service, image conversion).

The generated interfaces (``hit_ros.srv``) live in the colcon install space, the hand-written modules in
this folder; both are installed side by side. Extending ``__path__`` lets a source checkout that is first
on ``sys.path`` still find the generated ``hit_ros.srv`` of the install space.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
