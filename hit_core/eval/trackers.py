"""Trackers the evaluation runner can drive: HiT (any backend) and OpenCV's classical baselines.

The runner needs only :class:`SequenceTracker`: ``initialize(frame, box)`` then ``track(frame)``
returning an object with ``.box`` (x, y, w, h, image pixels). Frames are H x W x 3 uint8 in
OpenCV's **BGR** order, as decoded by ``cv2.imread``, so no tracker pays for a colour conversion.
A :class:`TrackerSpec` is a picklable description from which each worker process builds its own
tracker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from hit_core.errors import BackendError, ConfigError

OPENCV_TRACKERS = ("csrt", "kcf", "mil")
TRACKER_KINDS = ("hit", *OPENCV_TRACKERS)


class HasBox(Protocol):
    box: np.ndarray


class SequenceTracker(Protocol):
    """What the runner drives; ``initialize`` may be called again to start a new sequence."""

    def initialize(self, frame: np.ndarray, box: Sequence[float]) -> None: ...

    def track(self, frame: np.ndarray) -> HasBox: ...


class TrackerFactory(Protocol):
    """Builds a tracker inside a worker process; must be picklable. :class:`TrackerSpec` is one."""

    @property
    def name(self) -> str: ...

    def identity(self) -> dict[str, Any]: ...

    def build(self, threads: int | None = None) -> SequenceTracker: ...


@dataclass(frozen=True)
class BoxResult:
    box: np.ndarray


class OpenCVTracker:
    """CSRT, KCF or MIL from OpenCV (CSRT and KCF need opencv-contrib).

    OpenCV boxes are integer rectangles: the initial box is rounded to whole pixels. When the
    tracker reports a failure the previous box is kept (the usual baseline convention; an
    empty box would be replaced by the previous one at evaluation anyway).
    """

    def __init__(self, kind: str, threads: int | None = None) -> None:
        import cv2

        if kind not in OPENCV_TRACKERS:
            raise ConfigError(f"unknown OpenCV tracker {kind!r}; choose one of {', '.join(OPENCV_TRACKERS)}")
        factory_name = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}[kind]
        factory = getattr(cv2, factory_name, None)
        if factory is None:
            raise BackendError(
                f"this OpenCV ({cv2.__version__}) has no {kind.upper()} tracker; "
                f"install opencv-contrib-python-headless instead of opencv-python"
            )
        if threads is not None:
            cv2.setNumThreads(threads)
        self.kind = kind
        self._factory = factory
        self._tracker: Any = None
        self._box = np.zeros(4)

    def initialize(self, frame: np.ndarray, box: Sequence[float]) -> None:
        x, y, w, h = (float(v) for v in box)
        rect = (int(round(x)), int(round(y)), max(1, int(round(w))), max(1, int(round(h))))
        self._tracker = self._factory()
        self._tracker.init(frame, rect)
        self._box = np.array([x, y, w, h], dtype=np.float64)

    def track(self, frame: np.ndarray) -> BoxResult:
        if self._tracker is None:
            raise ConfigError("track() called before initialize()")
        found, rect = self._tracker.update(frame)
        if found:
            self._box = np.asarray(rect, dtype=np.float64)
        return BoxResult(self._box.copy())


class HitSequenceTracker:
    """:class:`hit_core.tracking.Tracker` fed with BGR frames."""

    def __init__(self, spec: TrackerSpec, threads: int | None) -> None:
        from hit_core.tracking import Tracker

        self._tracker = Tracker.from_options(
            variant=spec.variant,
            checkpoint=spec.checkpoint,
            backend=spec.backend,
            threads=threads,
            device=spec.device,
            precision=spec.precision,
        )
        self.backend_name = self._tracker.backend_name

    def initialize(self, frame: np.ndarray, box: Sequence[float]) -> None:
        self._tracker.initialize(frame, box, color="bgr")

    def track(self, frame: np.ndarray) -> HasBox:
        return self._tracker.track(frame, color="bgr")


@dataclass(frozen=True)
class TrackerSpec:
    """Which tracker to run and how; everything a worker process needs to build it.

    ``threads`` is per worker process (None: the runner divides the CPU cores among workers).
    ``label`` names the result folder (default ``hit_<variant>`` or the OpenCV tracker's name).
    """

    kind: str
    variant: str = "tiny"
    checkpoint: str | None = None
    backend: str = "auto"
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in TRACKER_KINDS:
            raise ConfigError(f"unknown tracker {self.kind!r}; choose one of {', '.join(TRACKER_KINDS)}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"threads must be a positive integer, got {self.threads!r}")
        if self.label is not None and (not self.label or "/" in self.label or self.label.startswith(".")):
            raise ConfigError(f"tracker label {self.label!r} must be a plain folder name")

    @property
    def name(self) -> str:
        """The result folder name."""
        if self.label:
            return self.label
        return f"hit_{self.variant.lower()}" if self.kind == "hit" else self.kind

    def identity(self) -> dict[str, Any]:
        """The settings that change results (resuming under different ones would mix two trackers)."""
        fields = asdict(self)
        fields.pop("threads")
        fields.pop("label")
        if self.kind != "hit":
            for key in ("variant", "checkpoint", "backend", "device", "precision"):
                fields.pop(key)
        return fields

    def build(self, threads: int | None = None) -> SequenceTracker:
        """Create the tracker in this process with ``threads`` CPU threads (spec's own value wins)."""
        threads = self.threads if self.threads is not None else threads
        if self.kind == "hit":
            return HitSequenceTracker(self, threads)
        return OpenCVTracker(self.kind, threads)


def threads_per_worker(workers: int, cpu_count: int | None = None) -> int:
    """CPU threads each worker may use so that workers x threads <= cores (at least 1)."""
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))
