"""The HiT tracking procedure on numpy images: crop, run a backend, map back, clip, score."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hit_core.errors import BackendError, ConfigError
from hit_core.tracking.backends import SEARCH_SIZE, TEMPLATE_SIZE, Backend, NetworkOutput, create_backend
from hit_core.tracking.confidence import corner_confidence
from hit_core.tracking.crop import check_frame, sample_target
from hit_core.tracking.mapback import clip_box, map_box_back, scale_prediction


@dataclass(frozen=True)
class TrackerParams:
    """Tracking parameters; the defaults are the official ones for every HiT variant.

    ``template_factor`` / ``search_factor``: crop side as a multiple of sqrt(w*h) of the
    box; ``clip_margin``: minimum box side in pixels and how far the box's top-left corner
    stays from the right/bottom border.
    """

    template_factor: float = 2.0
    search_factor: float = 4.0
    clip_margin: int = 10

    def __post_init__(self) -> None:
        for name in ("template_factor", "search_factor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"TrackerParams.{name} must be a positive number, got {value!r}")
        if not isinstance(self.clip_margin, int) or self.clip_margin < 1:
            raise ConfigError(f"TrackerParams.clip_margin must be a positive integer, got {self.clip_margin!r}")


@dataclass(frozen=True)
class TrackResult:
    """One frame's result.

    ``box``: (4,) float64 (x, y, w, h) in image pixels (top-left corner, size), clipped
    as the official tracker does; it is also the tracker's new state.
    ``score``: confidence in [0, 1] (see :mod:`hit_core.tracking.confidence`).
    ``timings_ms``: wall-clock milliseconds of "preprocess" (crop, resize, colour
    conversion), "inference" (the backend, incl. normalisation), "postprocess" (map back,
    clip, score) and "total" (the whole ``track`` call).
    """

    box: np.ndarray
    score: float
    timings_ms: dict[str, float] = field(default_factory=dict)


def check_box(box: Sequence[float], frame_shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """Validate a target box (x, y, w, h) for an image of shape ``frame_shape`` (H, W, ...).

    The box must be four finite numbers with positive width and height that overlap the
    image at least partly. Returns it as a tuple of floats; raises ConfigError otherwise.
    """
    try:
        if isinstance(box, (str, bytes)):
            raise TypeError("a string is not a box")
        values = tuple(float(value) for value in box)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"box must be four numbers x, y, w, h, got {box!r}") from error
    if len(values) != 4:
        raise ConfigError(f"box must be four numbers x, y, w, h, got {len(values)}: {box!r}")
    x, y, w, h = values
    if not all(math.isfinite(value) for value in values):
        raise ConfigError(f"box must be finite, got {values}")
    if w <= 0 or h <= 0:
        raise ConfigError(f"box width and height must be positive, got w={w}, h={h}")
    height, width = frame_shape[:2]
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ConfigError(
            f"box {values} lies entirely outside the {width}x{height} image; give x, y, w, h in image pixels"
        )
    return values


class Tracker:
    """Single-object HiT tracker over a runtime :class:`Backend`.

    Frames are H x W x C uint8 numpy arrays in the colour order named by ``color``
    ("rgb", "bgr", "rgba", "bgra", "gray"); they may be views with any strides and are
    never copied whole. Boxes are (x, y, w, h) in image pixels.
    """

    def __init__(self, backend: Backend, params: TrackerParams | None = None) -> None:
        if not isinstance(backend, Backend):
            raise ConfigError(f"backend must be a hit_core.tracking.backends.Backend, got {type(backend).__name__}")
        if params is not None and not isinstance(params, TrackerParams):
            raise ConfigError(f"params must be a TrackerParams, got {type(params).__name__}")
        self._backend = backend
        self.params = params if params is not None else TrackerParams()
        self._state: tuple[float, float, float, float] | None = None
        self._image_shape: tuple[int, ...] = ()

    @classmethod
    def from_options(
        cls,
        variant: str = "tiny",
        checkpoint: str | Path | None = None,
        backend: str = "auto",
        threads: int | None = None,
        device: str = "cpu",
        engine_cache_dir: str | Path | None = None,
        precision: str | None = None,
        params: TrackerParams | None = None,
    ) -> Tracker:
        """Build the backend by name (see :func:`hit_core.tracking.backends.create_backend`) and a tracker on it.

        ``checkpoint`` None means the bundled demo weights of ``variant`` when present;
        without them the network is untrained and a warning says so.
        """
        return cls(
            create_backend(
                backend,
                variant=variant,
                checkpoint=checkpoint,
                device=device,
                threads=threads,
                engine_cache_dir=engine_cache_dir,
                precision=precision,
            ),
            params,
        )

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def variant(self) -> str:
        return self._backend.variant

    @property
    def initialized(self) -> bool:
        return self._state is not None

    @property
    def state(self) -> np.ndarray:
        """The current target box (x, y, w, h), float64; where the next search crop is centred."""
        if self._state is None:
            raise ConfigError("the tracker has no target yet; call initialize(frame, box) first")
        return np.array(self._state, dtype=np.float64)

    def set_state(self, box: Sequence[float]) -> None:
        """Move the target to ``box`` (x, y, w, h, image pixels) without changing the template.

        For an external re-detection or for replaying known positions; the box is checked
        against the size of the last frame the tracker saw.
        """
        if self._state is None:
            raise ConfigError("set_state needs an initialised tracker; call initialize(frame, box) first")
        self._state = check_box(box, self._image_shape)

    def initialize(self, frame: np.ndarray, box: Sequence[float], color: str = "rgb") -> None:
        """Start tracking the object in ``box`` (x, y, w, h, image pixels) on ``frame``.

        Cuts the template (``template_factor`` x the box size, resized to 128 x 128) and
        hands it to the backend; the box becomes the state. No network forward runs here.
        """
        view = check_frame(frame, color)
        state = check_box(box, view.shape)
        template, _ = sample_target(view, state, self.params.template_factor, TEMPLATE_SIZE, color)
        self._backend.set_template(template)
        self._state = state
        self._image_shape = view.shape

    def track(self, frame: np.ndarray, color: str = "rgb") -> TrackResult:
        """Locate the target in ``frame``; returns the new box (also the new state) and a confidence."""
        start = time.perf_counter()
        if self._state is None:
            raise ConfigError("track() called before initialize(); give the tracker a first frame and box")
        view = check_frame(frame, color)
        search, resize_factor = sample_target(view, self._state, self.params.search_factor, SEARCH_SIZE, color)
        cropped = time.perf_counter()
        output = self._backend.infer(search)
        inferred = time.perf_counter()
        box, score = self._postprocess(output, resize_factor, view.shape)
        end = time.perf_counter()
        timings = {
            "preprocess": (cropped - start) * 1e3,
            "inference": (inferred - cropped) * 1e3,
            "postprocess": (end - inferred) * 1e3,
            "total": (end - start) * 1e3,
        }
        return TrackResult(box=box, score=score, timings_ms=timings)

    def _postprocess(
        self, output: NetworkOutput, resize_factor: float, frame_shape: tuple[int, ...]
    ) -> tuple[np.ndarray, float]:
        if not (
            np.isfinite(output.box).all() and np.isfinite(output.score_tl).all() and np.isfinite(output.score_br).all()
        ):
            raise BackendError(
                f"the {self.backend_name} backend returned non-finite network outputs; "
                f"check the checkpoint and the backend's precision"
            )
        pred_image = scale_prediction(output.box, resize_factor, SEARCH_SIZE)
        unclipped = map_box_back(self._state, pred_image, resize_factor, SEARCH_SIZE)
        height, width = frame_shape[:2]
        self._image_shape = frame_shape
        self._state = clip_box(unclipped, height, width, self.params.clip_margin)
        score = corner_confidence(output.score_tl, output.score_br)
        return np.array(self._state, dtype=np.float64), score

    def close(self) -> None:
        """Release the backend."""
        self._backend.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
