"""Runtime backends: crops in, network outputs out.

A backend runs the HiT network on a prepared template crop (uint8 128 x 128 x 3 RGB)
and search crops (uint8 256 x 256 x 3 RGB). It knows nothing about image coordinates:
cropping, mapping back and clipping belong to :class:`hit_core.tracking.Tracker`.
Normalisation (ImageNet mean/std on RGB/255) is the backend's job so that a runtime
may fold it into its graph.

Implementations live in sibling modules imported lazily by name (so that importing
this package needs neither torch, onnxruntime nor tensorrt):

* ``torch_backend.py`` (PyTorch, CPU or CUDA),
* ``onnxruntime_backend.py`` (ONNX Runtime),
* ``tensorrt_backend.py`` (TensorRT).

Each module defines exactly one :class:`Backend` subclass, constructed with the keyword
arguments ``variant, checkpoint, device, threads, engine_cache_dir, precision``, and a
module-level ``is_available() -> tuple[bool, str]`` (the reason when not available).
"""

from __future__ import annotations

import abc
import importlib
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from hit_core.errors import BackendError, ConfigError

__all__ = [
    "BACKEND_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRECISIONS",
    "SEARCH_SIZE",
    "TEMPLATE_SIZE",
    "SCORE_MAP_SIZE",
    "Backend",
    "NetworkOutput",
    "backend_availability",
    "check_crop",
    "create_backend",
    "normalize_crop",
]

LOGGER = logging.getLogger("hit_core.tracking")

TEMPLATE_SIZE = 128
SEARCH_SIZE = 256
SCORE_MAP_SIZE = 16

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_MODULES = {
    "torch": "torch_backend",
    "onnxruntime": "onnxruntime_backend",
    "tensorrt": "tensorrt_backend",
}
BACKEND_NAMES: tuple[str, ...] = (*_MODULES, "auto")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class NetworkOutput:
    """What the network says about one search crop.

    ``box``: (4,) float32 ``(cx, cy, w, h)`` normalised by the search size 256, exactly the
    official ``pred_boxes`` (w or h may be negative: the two corners are independent).
    ``score_tl`` / ``score_br``: (16, 16) float32 raw (pre-softmax) corner maps, row = y.
    """

    box: np.ndarray
    score_tl: np.ndarray
    score_br: np.ndarray


class Backend(abc.ABC):
    """One way of running the network. Use as a context manager or call :meth:`close`."""

    name: str
    variant: str

    @abc.abstractmethod
    def set_template(self, template: np.ndarray) -> None:
        """Store the template crop: uint8 (128, 128, 3) RGB, C-contiguous.

        A backend may precompute template-only work here; it is used by every later
        :meth:`infer` until the next call.
        """

    @abc.abstractmethod
    def infer(self, search: np.ndarray) -> NetworkOutput:
        """Run the network on a search crop: uint8 (256, 256, 3) RGB, C-contiguous."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the runtime's resources; the backend cannot be used afterwards."""

    @property
    def runtime(self) -> str:
        """What executes the network, for logs, diagnostics and benchmarks: the backend's name unless it
        has several (ONNX Runtime names its execution provider)."""
        return self.name

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def warn_untrained(variant: str) -> None:
    """Say loudly that a backend runs a network without trained weights (the one wording every backend uses)."""
    LOGGER.warning(
        "HiT-%s: no checkpoint and no bundled demo weights; the network is UNTRAINED (random weights) and "
        "its boxes are meaningless. Pass a checkpoint.",
        variant,
    )


def check_crop(crop: np.ndarray, side: int, role: str) -> np.ndarray:
    """Validate a uint8 (side, side, 3) crop and return it C-contiguous (copied only if it is not).

    ``role`` names the crop ("template" / "search") in the error message.
    """
    if not isinstance(crop, np.ndarray):
        raise ConfigError(f"{role} crop must be a numpy array, got {type(crop).__name__}")
    if crop.dtype != np.uint8 or crop.shape != (side, side, 3):
        raise ConfigError(
            f"{role} crop must be uint8 of shape ({side}, {side}, 3) RGB, got {crop.dtype} {crop.shape}; "
            f"make it with hit_core.tracking.crop.crop_region"
        )
    return np.ascontiguousarray(crop)


def _normalisation_table() -> np.ndarray:
    """(3, 256) float32: the normalised value of every uint8 level per channel."""
    levels = np.arange(256, dtype=np.float32)[None, :]
    return ((levels / np.float32(255)) - IMAGENET_MEAN[:, None]) / IMAGENET_STD[:, None]


_NORMALISATION_TABLE = _normalisation_table()


def normalize_crop(crop: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 RGB crop -> float32 (1, 3, H, W) network input, C-contiguous.

    Bit-identical to the official float32 arithmetic ``((x / 255) - mean) / std`` with
    float32 ImageNet mean/std: that expression is evaluated once for each of the 256 levels
    per channel and applied as a lookup table (a few times faster than the arithmetic).
    """
    import cv2

    normalised = np.empty((1, 3, *crop.shape[:2]), dtype=np.float32)
    for channel in range(3):
        cv2.LUT(crop[:, :, channel], _NORMALISATION_TABLE[channel], dst=normalised[0, channel])
    return normalised


def _backend_module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{_MODULES[name]}")


def _backend_class(module: ModuleType) -> type[Backend]:
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Backend)
        and not inspect.isabstract(obj)
        and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise BackendError(
            f"{module.__name__} must define exactly one Backend subclass, found {len(classes)}; "
            f"this is a packaging error, reinstall hit_core"
        )
    return classes[0]


def backend_availability(name: str) -> tuple[bool, str]:
    """Whether backend ``name`` ("torch", "onnxruntime", "tensorrt") can run here, and why not."""
    if name not in _MODULES:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(_MODULES)}")
    try:
        module = _backend_module(name)
    except ImportError as error:
        return False, f"the {name} backend cannot be imported ({error})"
    return module.is_available()


def _instantiate(name: str, options: dict) -> Backend:
    available, reason = backend_availability(name)
    if not available:
        raise BackendError(f"backend {name!r} is not available: {reason}")
    return _backend_class(_backend_module(name))(**options)


def create_backend(
    name: str,
    *,
    variant: str,
    checkpoint: str | Path | None,
    device: str = "cpu",
    threads: int | None = None,
    engine_cache_dir: str | Path | None = None,
    precision: str | None = None,
) -> Backend:
    """Build a backend by name: "torch", "onnxruntime", "tensorrt" or "auto".

    ``variant``: "tiny", "small", "base" (aliases as accepted by ``hit_core.models``);
    ``checkpoint``: weights file, or None for the bundled demo weights (lacking those, the
    network is untrained and the backend logs a loud warning). ``device``: "cpu", "cuda" or "cuda:N"
    (onnxruntime also "cpu:openvino" and "cpu:onnxruntime", see its module); ``threads``: intra-op
    CPU threads (None = the runtime's default); ``engine_cache_dir``: where backends cache
    derived graphs and engines; ``precision``: "fp32", "fp16", "int8", or None for each
    backend's default (torch and onnxruntime fp32, tensorrt fp16); what each backend supports
    is its own business, unsupported combinations raise ConfigError.

    "auto" picks TensorRT when it can run (always on a CUDA device: ``cuda:0`` unless
    ``device`` names one), else ONNX Runtime on ``device``; every fallback is logged as a
    warning on the ``hit_core.tracking`` logger with its reason, never silent.
    """
    if name not in BACKEND_NAMES:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
    options = {
        "variant": variant,
        "checkpoint": checkpoint,
        "device": device,
        "threads": threads,
        "engine_cache_dir": engine_cache_dir,
    }
    if precision is not None:
        options["precision"] = precision
    if name != "auto":
        return _instantiate(name, options)

    trt_available, reason = backend_availability("tensorrt")
    if trt_available:
        gpu = device if device.startswith("cuda") else "cuda"
        try:
            return _instantiate("tensorrt", {**options, "device": gpu})
        except (BackendError, ConfigError) as error:
            reason = str(error)
    LOGGER.warning("backend auto: TensorRT not used (%s); falling back to ONNX Runtime on %s", reason, device)
    return _instantiate("onnxruntime", options)
