"""The HiT tracking procedure (no ROS): crop, backend, map back, clip, confidence.

``Tracker`` is the one implementation every consumer uses (the ROS node, ``hit track``,
evaluation). Backends (PyTorch, ONNX Runtime, TensorRT) are created by name with
:func:`hit_core.tracking.backends.create_backend`.
"""

from hit_core.tracking.backends import Backend, NetworkOutput, create_backend
from hit_core.tracking.tracker import Tracker, TrackerParams, TrackResult

__all__ = ["Backend", "NetworkOutput", "TrackResult", "Tracker", "TrackerParams", "create_backend"]
