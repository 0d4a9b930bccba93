"""The robot's view of a live replay, from hand-made records (no ROS needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hit_core.errors import DatasetError
from hit_core.eval.rosbag_replay import REPLAY_FORMAT, ReplayRecord, live_curves, load_replay_record, robot_view

MS = 1_000_000
PERIOD = 100 * MS  # 10 Hz
INIT_BOX = [10.0, 10.0, 20.0, 20.0]


def _record(detections: list[dict], frames: int = 5, sent: list[int] | None = None) -> ReplayRecord:
    """Frame i is stamped 1000 + i and sent at i * 100 ms."""
    sent = sent if sent is not None else [i * PERIOD for i in range(frames)]
    return ReplayRecord.from_json(
        {
            "format": REPLAY_FORMAT,
            "player": "builtin",
            "rate_hz": 10.0,
            "period_ns": PERIOD,
            "init": {"index": 0, "box": INIT_BOX, "track_id": "t"},
            "frames": {"stamp_ns": [1000 + i for i in range(frames)], "sent_ns": sent},
            "detections": detections,
        }
    )


def _det(frame: int, after_ms: float, x: float | None, score: float = 0.9) -> dict:
    box = None if x is None else [x, 10.0, 20.0, 20.0]
    return {"stamp_ns": 1000 + frame, "received_ns": frame * PERIOD + int(after_ms * MS), "box": box, "score": score}


def test_on_time_late_dropped_and_lost_frames() -> None:
    record = _record(
        [
            _det(1, 30, 11.0),  # on time
            _det(2, 150, 12.0),  # late: arrives while frame 3 is current
            # frame 3 skipped by the node
            _det(4, 40, None),  # target lost
        ]
    )
    outcome = robot_view(record, 5)
    # Frame 1: its own box. Frame 2: its answer is late, so the robot still has frame 1's box.
    # Frame 3: the late answer for frame 2 arrived at 350 ms <= 400 ms, so frame 2's box.
    # Frame 4: the lost report arrived on time: no box.
    np.testing.assert_array_equal(outcome.boxes[:, 0], [10.0, 11.0, 11.0, 12.0, 12.0])
    np.testing.assert_array_equal(outcome.source_frame, [-1, 1, 1, 2, 4])
    np.testing.assert_array_equal(outcome.lost, [False, False, False, False, True])
    np.testing.assert_array_equal(outcome.answered, [False, True, True, False, True])
    np.testing.assert_array_equal(outcome.on_time, [False, True, False, False, True])
    np.testing.assert_allclose(outcome.latency_ms[[1, 2, 4]], [30.0, 150.0, 40.0])
    summary = outcome.summary()
    assert summary["frames"] == 5
    assert (summary["answered"], summary["dropped"], summary["late"], summary["lost"]) == (3, 1, 1, 1)
    assert summary["drop_rate"] == pytest.approx(25.0)
    assert summary["late_rate"] == pytest.approx(25.0)
    assert summary["latency_p50_ms"] == pytest.approx(40.0)
    assert summary["latency_max_ms"] == pytest.approx(150.0)
    assert summary["latency_p95_ms"] == pytest.approx(np.percentile([30.0, 150.0, 40.0], 95))


def test_before_the_first_detection_the_robot_keeps_the_set_target_box() -> None:
    outcome = robot_view(_record([_det(3, 10, 50.0)]), 5)
    np.testing.assert_array_equal(outcome.boxes[:, 0], [10.0, 10.0, 10.0, 50.0, 50.0])
    assert outcome.summary()["dropped"] == 3


def test_detections_for_unknown_stamps_and_duplicates_are_not_scored() -> None:
    stray = {"stamp_ns": 5, "received_ns": 10 * MS, "box": [0.0, 0.0, 5.0, 5.0], "score": 1.0}
    outcome = robot_view(_record([stray, _det(1, 10, 11.0), _det(1, 20, 99.0)]), 5)
    assert outcome.unmatched_detections == 2
    assert outcome.boxes[1, 0] == 11.0


def test_frames_an_external_player_lost_get_nominal_send_times() -> None:
    sent = [0, PERIOD, -1, 3 * PERIOD + 5 * MS, 4 * PERIOD]
    outcome = robot_view(_record([_det(2, 30, 12.0)], sent=sent), 5)
    assert outcome.latency_ms[2] == pytest.approx(30.0)
    assert outcome.boxes[2, 0] == 12.0


def test_live_curves_count_lost_frames_as_failures() -> None:
    truth = np.array([INIT_BOX] * 5)
    perfect = robot_view(_record([_det(i, 10, 10.0) for i in range(1, 5)]), 5)
    assert live_curves(perfect, truth).scores()["auc"] == pytest.approx(100.0 * 20 / 21)
    one_lost = robot_view(_record([_det(1, 10, 10.0), _det(2, 10, None), _det(3, 10, 10.0), _det(4, 10, 10.0)]), 5)
    scores = live_curves(one_lost, truth).scores()
    assert scores["op50"] == pytest.approx(80.0)
    assert scores["precision"] == pytest.approx(80.0)


def test_malformed_and_mismatched_records_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="format"):
        ReplayRecord.from_json({"format": "other"})
    with pytest.raises(DatasetError, match="malformed"):
        ReplayRecord.from_json({"format": REPLAY_FORMAT, "frames": {}})
    with pytest.raises(DatasetError, match="the bag has 7"):
        robot_view(_record([]), 7)
    with pytest.raises(DatasetError, match="did not finish"):
        load_replay_record(tmp_path / "none.json")
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": REPLAY_FORMAT, "player": "builtin"}), encoding="utf-8")
    with pytest.raises(DatasetError, match="malformed"):
        load_replay_record(path)
