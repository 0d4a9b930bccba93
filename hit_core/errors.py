"""One exception type per domain.

Messages say what was wrong and what to do; the CLI and the ROS node turn a
``HitError`` into one clean line instead of a traceback.
"""


class HitError(Exception):
    """Base class of every error hit_core raises on purpose."""


class ConfigError(HitError):
    """A configuration value, CLI option or parameter is invalid."""


class CheckpointError(HitError):
    """A checkpoint file is missing, damaged, unsafe or of another variant."""


class DatasetError(HitError):
    """A dataset root, sequence or annotation file is missing or malformed."""


class BackendError(HitError):
    """A runtime backend cannot be created or failed while running."""


class ExportError(HitError):
    """An export (ONNX, INT8, TensorRT engine) failed or did not match PyTorch."""
