"""hit_core: the HiT tracker family without ROS.

Model, tracking procedure, runtime backends, export, training and evaluation.
Importing this package is cheap: heavy dependencies (torch, onnxruntime,
tensorrt, opencv, rosbags, matplotlib) are imported by the modules that use them.
"""

from hit_core.errors import (
    BackendError,
    CheckpointError,
    ConfigError,
    DatasetError,
    ExportError,
    HitError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "ExportError",
    "HitError",
    "__version__",
]
