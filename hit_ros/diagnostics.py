"""What the tracker node measures about itself, and how that becomes a ``diagnostic_msgs/DiagnosticStatus``.

:class:`NodeTelemetry` is fed from three threads (subscription, worker, services) and read by the
diagnostics timer; everything windowed covers the last ``window_s`` seconds of a monotonic clock, so the
numbers stay meaningful under ``use_sim_time`` and bag replay. :func:`assess` turns a snapshot into a level
and a one-line summary; :func:`diagnostic_status` into the message.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hit_ros.parameters import DiagnosticsBounds

__all__ = [
    "DROP_REASONS",
    "LATENCY_STAGES",
    "NodeTelemetry",
    "TelemetrySnapshot",
    "TrackerState",
    "assess",
    "diagnostic_status",
    "status_values",
]

DROP_REASONS: tuple[str, ...] = ("busy", "too_old", "bad_message")
"""busy: replaced by a newer frame before the worker got to it; too_old: older than max_image_age_ms (or
than the frame a new target was set on); bad_message: not convertible to an image."""

LATENCY_STAGES: tuple[str, ...] = ("convert", "preprocess", "inference", "postprocess", "total", "overhead")
"""convert: message to array; preprocess/inference/postprocess: the tracker's own stages; total: from taking the
frame off the mailbox to the detection being published (convert, tracking, publishing); overhead: what the node
adds around ``Tracker.track`` (total minus the tracker's own total: conversion, message building, publishing,
bookkeeping)."""

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


class _TimedSamples:
    """Values with the monotonic time they were recorded; forgets those older than the window."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now_s: float, value: float = 0.0) -> None:
        self._samples.append((now_s, value))
        self._forget(now_s)

    def values(self, now_s: float) -> np.ndarray:
        self._forget(now_s)
        return np.fromiter((value for _, value in self._samples), dtype=np.float64, count=len(self._samples))

    def count(self, now_s: float) -> int:
        self._forget(now_s)
        return len(self._samples)

    def _forget(self, now_s: float) -> None:
        horizon = now_s - self._window_s
        while self._samples and self._samples[0][0] <= horizon:
            self._samples.popleft()


@dataclass(frozen=True)
class TelemetrySnapshot:
    """Counters since start-up plus rates and percentiles (p50, p95) over the last ``window_s`` seconds.

    Rates are in Hz, latencies and ages in milliseconds; a percentile is None while its window is empty.
    """

    uptime_s: float
    window_s: float
    frames_received: int
    frames_missed: int
    frames_processed: int
    dropped: dict[str, int]
    detections_published: int
    model_errors: int
    input_rate_hz: float
    output_rate_hz: float
    latency_ms: dict[str, tuple[float, float] | None]
    image_age_ms: tuple[float, float] | None
    recent_model_errors: int
    recent_bad_messages: int
    recent_zero_stamps: int
    frames_in_window: int
    last_error: str


@dataclass
class TrackerState:
    """What the node knows about the target, for the status (not telemetry: it changes on service calls)."""

    state: str = "idle"  # idle | tracking | lost
    track_id: str = ""
    score: float | None = None
    backend: str = ""
    runtime: str = ""
    model: str = ""
    weights: str = ""
    untrained: bool = False
    time_to_first_box_ms: float | None = None


class NodeTelemetry:
    """Thread-safe counters and windows for one tracker node."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._clock = clock
        self._window_s = window_s
        self._started_s = clock()
        self._lock = threading.Lock()
        self._received = 0
        self._missed = 0
        self._processed = 0
        self._published = 0
        self._model_errors = 0
        self._dropped: Counter[str] = Counter()
        self._last_error = ""
        self._input = _TimedSamples(window_s)
        self._output = _TimedSamples(window_s)
        self._latency = {stage: _TimedSamples(window_s) for stage in LATENCY_STAGES}
        self._image_age = _TimedSamples(window_s)
        self._model_error_times = _TimedSamples(window_s)
        self._bad_message_times = _TimedSamples(window_s)
        self._zero_stamp_times = _TimedSamples(window_s)

    def frame_received(self, zero_stamp: bool = False) -> None:
        """An image message arrived (counted before any validation)."""
        now = self._clock()
        with self._lock:
            self._received += 1
            self._input.add(now)
            if zero_stamp:
                self._zero_stamp_times.add(now)

    def frames_missed(self, count: int) -> None:
        """``count`` frames were sent but never reached the subscription callback (publisher sequence gaps)."""
        with self._lock:
            self._missed += count

    def frame_dropped(self, reason: str, error: str | None = None) -> None:
        """A frame was not tracked; ``reason`` is one of :data:`DROP_REASONS`."""
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}; expected one of {DROP_REASONS}")
        now = self._clock()
        with self._lock:
            self._dropped[reason] += 1
            if reason == "bad_message":
                self._bad_message_times.add(now)
            if error:
                self._last_error = error

    def frame_processed(self, latency_ms: dict[str, float], image_age_ms: float | None) -> None:
        """A frame was answered with a Detection2DArray; ``latency_ms`` holds any of :data:`LATENCY_STAGES`
        (empty for a frame answered without tracking, e.g. while idle) and ``image_age_ms`` its age at publish."""
        now = self._clock()
        with self._lock:
            self._processed += 1
            for stage, value in latency_ms.items():
                if stage in self._latency:
                    self._latency[stage].add(now, value)
            if image_age_ms is not None:
                self._image_age.add(now, image_age_ms)

    def detections_published(self) -> None:
        """One Detection2DArray (empty or not) went out."""
        now = self._clock()
        with self._lock:
            self._published += 1
            self._output.add(now)

    def model_error(self, error: str) -> None:
        """The tracker raised while initialising or tracking a frame."""
        now = self._clock()
        with self._lock:
            self._model_errors += 1
            self._model_error_times.add(now)
            self._last_error = error

    def note_error(self, error: str) -> None:
        """Remember an error for the ``last_error`` key without counting it anywhere else."""
        with self._lock:
            self._last_error = error

    def snapshot(self) -> TelemetrySnapshot:
        now = self._clock()
        with self._lock:
            uptime = now - self._started_s
            span = max(min(self._window_s, uptime), 1e-9)
            latency = {stage: _p50_p95(samples.values(now)) for stage, samples in self._latency.items()}
            return TelemetrySnapshot(
                uptime_s=uptime,
                window_s=self._window_s,
                frames_received=self._received,
                frames_missed=self._missed,
                frames_processed=self._processed,
                dropped={reason: self._dropped[reason] for reason in DROP_REASONS},
                detections_published=self._published,
                model_errors=self._model_errors,
                input_rate_hz=self._input.count(now) / span,
                output_rate_hz=self._output.count(now) / span,
                latency_ms=latency,
                image_age_ms=_p50_p95(self._image_age.values(now)),
                recent_model_errors=self._model_error_times.count(now),
                recent_bad_messages=self._bad_message_times.count(now),
                recent_zero_stamps=self._zero_stamp_times.count(now),
                frames_in_window=self._input.count(now),
                last_error=self._last_error,
            )


def _p50_p95(values: np.ndarray) -> tuple[float, float] | None:
    if values.size == 0:
        return None
    p50, p95 = np.percentile(values, (50, 95))
    return float(p50), float(p95)


def assess(snapshot: TelemetrySnapshot, tracker: TrackerState, bounds: DiagnosticsBounds) -> tuple[int, str]:
    """Level (0 OK, 1 WARN, 2 ERROR) and a one-line summary naming every bound that is left.

    ERROR: the model failed within the window, or no image arrived for a whole window (after the first
    window of uptime) while ``min_input_rate_hz`` is set. WARN: input or (while a target is set) output rate
    below its bound, p95 latency or image age above its bound, target lost, untrained weights, bad messages
    or zero stamps within the window.
    """
    problems: list[tuple[int, str]] = []
    window = f"{snapshot.window_s:g} s"
    if snapshot.recent_model_errors:
        problems.append((ERROR, f"model failed {snapshot.recent_model_errors}x in {window}: {snapshot.last_error}"))
    if bounds.min_input_rate_hz > 0:
        if snapshot.frames_in_window == 0:
            if snapshot.uptime_s >= snapshot.window_s:
                problems.append((ERROR, f"no images received in {window} (check the image topic and its QoS)"))
        elif snapshot.input_rate_hz < bounds.min_input_rate_hz:
            problems.append(
                (WARN, f"input rate {snapshot.input_rate_hz:.1f} Hz < {bounds.min_input_rate_hz:g} Hz")
            )
    if (
        bounds.min_output_rate_hz > 0
        and tracker.state != "idle"
        and snapshot.frames_in_window > 0
        and snapshot.output_rate_hz < bounds.min_output_rate_hz
    ):
        problems.append((WARN, f"output rate {snapshot.output_rate_hz:.1f} Hz < {bounds.min_output_rate_hz:g} Hz"))
    total = snapshot.latency_ms.get("total")
    if bounds.max_latency_ms > 0 and total is not None and total[1] > bounds.max_latency_ms:
        problems.append((WARN, f"p95 latency {total[1]:.1f} ms > {bounds.max_latency_ms:g} ms"))
    if bounds.max_image_age_ms > 0 and snapshot.image_age_ms is not None:
        if snapshot.image_age_ms[1] > bounds.max_image_age_ms:
            problems.append(
                (WARN, f"p95 image age {snapshot.image_age_ms[1]:.1f} ms > {bounds.max_image_age_ms:g} ms")
            )
    if tracker.state == "lost":
        problems.append((WARN, "target lost"))
    if tracker.untrained:
        problems.append((WARN, "UNTRAINED network (no checkpoint given and no bundled weights)"))
    if snapshot.recent_bad_messages:
        problems.append((WARN, f"{snapshot.recent_bad_messages} bad image message(s) in {window}"))
    if snapshot.recent_zero_stamps:
        problems.append((WARN, "images carry zero stamps: image age and stamp matching are unavailable"))
    if not problems:
        return OK, tracker.state
    level = max(level for level, _ in problems)
    return level, f"{tracker.state}: " + "; ".join(text for _, text in problems)


def status_values(snapshot: TelemetrySnapshot, tracker: TrackerState) -> list[tuple[str, str]]:
    """The (key, value) pairs of the status, in a stable order; units are in the key names."""
    values: list[tuple[str, str]] = [
        ("state", tracker.state),
        ("track_id", tracker.track_id),
        ("score", _number(tracker.score, 3)),
        ("backend", tracker.backend),
        ("runtime", tracker.runtime),
        ("model", tracker.model),
        ("weights", tracker.weights),
        ("input_rate_hz", f"{snapshot.input_rate_hz:.2f}"),
        ("output_rate_hz", f"{snapshot.output_rate_hz:.2f}"),
        ("frames_received", str(snapshot.frames_received)),
        ("frames_missed", str(snapshot.frames_missed)),
        ("frames_processed", str(snapshot.frames_processed)),
    ]
    values += [(f"frames_dropped_{reason}", str(snapshot.dropped[reason])) for reason in DROP_REASONS]
    values += [
        ("detections_published", str(snapshot.detections_published)),
        ("model_errors", str(snapshot.model_errors)),
    ]
    for stage in LATENCY_STAGES:
        percentiles = snapshot.latency_ms.get(stage)
        values.append((f"latency_{stage}_ms_p50", _number(percentiles and percentiles[0], 2)))
        values.append((f"latency_{stage}_ms_p95", _number(percentiles and percentiles[1], 2)))
    values += [
        ("image_age_ms_p50", _number(snapshot.image_age_ms and snapshot.image_age_ms[0], 2)),
        ("image_age_ms_p95", _number(snapshot.image_age_ms and snapshot.image_age_ms[1], 2)),
        ("time_to_first_box_ms", _number(tracker.time_to_first_box_ms, 1)),
        ("window_s", f"{snapshot.window_s:g}"),
        ("last_error", snapshot.last_error),
    ]
    return values


def diagnostic_status(
    name: str, hardware_id: str, snapshot: TelemetrySnapshot, tracker: TrackerState, bounds: DiagnosticsBounds
) -> Any:
    """A ``diagnostic_msgs/DiagnosticStatus`` with :func:`assess`'s level and :func:`status_values`' keys."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    level, message = assess(snapshot, tracker, bounds)
    return DiagnosticStatus(
        level=bytes([level]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=key, value=value) for key, value in status_values(snapshot, tracker)],
    )


def _number(value: float | None, decimals: int) -> str:
    return "n/a" if value is None else f"{value:.{decimals}f}"
