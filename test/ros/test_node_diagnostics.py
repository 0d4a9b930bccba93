"""Telemetry windows, health levels and the DiagnosticStatus keys, driven by a controlled clock."""

from __future__ import annotations

import pytest

pytest.importorskip("diagnostic_msgs.msg", reason="diagnostic_msgs (ROS 2 Python messages) is not installed")

from hit_ros.diagnostics import (  # noqa: E402
    DROP_REASONS,
    LATENCY_STAGES,
    NodeTelemetry,
    TrackerState,
    assess,
    diagnostic_status,
    status_values,
)
from hit_ros.parameters import DiagnosticsBounds  # noqa: E402

BOUNDS = DiagnosticsBounds(
    period_s=1.0,
    window_s=5.0,
    hardware_id="",
    min_input_rate_hz=10.0,
    min_output_rate_hz=10.0,
    max_latency_ms=50.0,
    max_image_age_ms=100.0,
)


class FakeTime:
    """A settable clock so windows and rates are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(telemetry: NodeTelemetry, clock: FakeTime, frames: int, rate_hz: float, total_ms: float, age_ms: float):
    for _ in range(frames):
        clock.now += 1.0 / rate_hz
        telemetry.frame_received()
        stages = {stage: 1.0 for stage in LATENCY_STAGES}
        stages["total"] = total_ms
        telemetry.frame_processed(stages, age_ms)
        telemetry.detections_published()


def test_rates_and_percentiles_cover_the_window_only():
    clock = FakeTime()
    telemetry = NodeTelemetry(window_s=5.0, clock=clock)
    _run(telemetry, clock, frames=100, rate_hz=20.0, total_ms=30.0, age_ms=40.0)  # 5 s at 20 Hz
    _run(telemetry, clock, frames=50, rate_hz=10.0, total_ms=10.0, age_ms=20.0)  # then 5 s at 10 Hz
    snapshot = telemetry.snapshot()
    assert snapshot.frames_received == 150 and snapshot.frames_processed == 150
    assert snapshot.input_rate_hz == pytest.approx(10.0, abs=0.25)
    assert snapshot.output_rate_hz == pytest.approx(10.0, abs=0.25)
    assert snapshot.latency_ms["total"] == pytest.approx((10.0, 10.0))
    assert snapshot.image_age_ms == pytest.approx((20.0, 20.0))


def test_drops_are_counted_by_reason_and_unknown_reasons_refused():
    telemetry = NodeTelemetry(window_s=5.0, clock=FakeTime())
    telemetry.frame_dropped("busy")
    telemetry.frame_dropped("busy")
    telemetry.frame_dropped("too_old")
    telemetry.frame_dropped("bad_message", "bad image message dropped: zero size")
    telemetry.frames_missed(5)
    telemetry.frames_missed(2)
    snapshot = telemetry.snapshot()
    assert snapshot.dropped == {"busy": 2, "too_old": 1, "bad_message": 1}
    assert snapshot.frames_missed == 7
    assert snapshot.recent_bad_messages == 1
    assert snapshot.last_error.endswith("zero size")
    with pytest.raises(ValueError, match="unknown drop reason"):
        telemetry.frame_dropped("tired")


def test_health_levels_follow_the_bounds():
    clock = FakeTime()
    telemetry = NodeTelemetry(window_s=5.0, clock=clock)
    tracking = TrackerState(state="tracking", backend="onnxruntime", model="HiT-tiny/fp32")

    _run(telemetry, clock, frames=150, rate_hz=30.0, total_ms=20.0, age_ms=30.0)
    assert assess(telemetry.snapshot(), tracking, BOUNDS) == (0, "tracking")

    _run(telemetry, clock, frames=150, rate_hz=30.0, total_ms=80.0, age_ms=150.0)
    level, message = assess(telemetry.snapshot(), tracking, BOUNDS)
    assert level == 1 and "p95 latency 80.0 ms > 50 ms" in message and "p95 image age 150.0 ms > 100 ms" in message

    lost = TrackerState(state="lost")
    _run(telemetry, clock, frames=150, rate_hz=30.0, total_ms=20.0, age_ms=30.0)
    assert assess(telemetry.snapshot(), lost, BOUNDS) == (1, "lost: target lost")

    _run(telemetry, clock, frames=20, rate_hz=4.0, total_ms=20.0, age_ms=30.0)
    level, message = assess(telemetry.snapshot(), tracking, BOUNDS)
    assert level == 1 and "input rate 4.0 Hz < 10 Hz" in message and "output rate" in message

    telemetry.model_error("tracking failed: backend exploded")
    level, message = assess(telemetry.snapshot(), tracking, BOUNDS)
    assert level == 2 and "model failed 1x" in message and "backend exploded" in message

    clock.now += 60.0  # nothing for a minute: the error leaves the window, the silence becomes the problem
    level, message = assess(telemetry.snapshot(), TrackerState(state="idle"), BOUNDS)
    assert level == 2 and "no images received in 5 s" in message and "model failed" not in message


def test_no_error_for_silence_before_the_first_window_and_warn_for_untrained_weights():
    clock = FakeTime()
    telemetry = NodeTelemetry(window_s=5.0, clock=clock)
    clock.now += 1.0
    assert assess(telemetry.snapshot(), TrackerState(), BOUNDS) == (0, "idle")
    level, message = assess(telemetry.snapshot(), TrackerState(untrained=True), BOUNDS)
    assert level == 1 and "UNTRAINED" in message
    telemetry.frame_received(zero_stamp=True)
    level, message = assess(telemetry.snapshot(), TrackerState(), BOUNDS)
    assert "zero stamps" in message


def test_status_message_carries_every_documented_key():
    clock = FakeTime()
    telemetry = NodeTelemetry(window_s=5.0, clock=clock)
    _run(telemetry, clock, frames=30, rate_hz=30.0, total_ms=20.0, age_ms=30.0)
    state = TrackerState(
        state="tracking", track_id="abc", score=0.8, backend="torch", model="HiT-tiny/fp32", weights="w.pth",
        time_to_first_box_ms=42.0,
    )
    status = diagnostic_status("cam0/hit_tracker: tracker", "cpu/torch", telemetry.snapshot(), state, BOUNDS)
    assert status.name == "cam0/hit_tracker: tracker" and status.hardware_id == "cpu/torch"
    assert status.level == b"\x00" and status.message == "tracking"
    values = {item.key: item.value for item in status.values}
    expected = {"state", "track_id", "score", "backend", "runtime", "model", "weights", "input_rate_hz", "output_rate_hz",
                "frames_received", "frames_missed", "frames_processed", "detections_published", "model_errors",
                "image_age_ms_p50", "image_age_ms_p95", "time_to_first_box_ms", "last_error", "window_s"}
    expected |= {f"frames_dropped_{reason}" for reason in DROP_REASONS}
    expected |= {f"latency_{stage}_ms_{p}" for stage in LATENCY_STAGES for p in ("p50", "p95")}
    assert set(values) == expected
    assert values["time_to_first_box_ms"] == "42.0" and values["latency_total_ms_p95"] == "20.00"
    assert [key for key, _ in status_values(telemetry.snapshot(), state)][0] == "state"
    empty = status_values(NodeTelemetry(5.0, clock=FakeTime()).snapshot(), TrackerState())
    assert dict(empty)["latency_inference_ms_p50"] == "n/a"
