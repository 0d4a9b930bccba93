"""Scoring a live replay: what a robot listening to the tracker node experienced.

The player (``hit_ros.bag_replay``) publishes a bag's images into a running tracker node,
sets the target through ``~/set_target`` on frame 0 and records, in one JSON file (format
``hit_ros.replay/1``), when each image was sent and when each detection arrived (wall clock,
ns). This module turns that record into the robot's view, with no ROS needed:

- the robot's box for frame ``i >= 1`` is the newest detection received by the time frame
  ``i + 1`` is due (``sent_i + period``), whichever frame it answered; before the first
  detection it is the box given to ``set_target``. So a frame the node skipped or answered
  late keeps the last published box;
- an empty detection array (the node reports the target lost) leaves the robot without a box:
  that frame counts as a failure (IoU -1, infinite centre error);
- latency of a detection = time received - time its image was sent (the player stamps each
  image with the wall time at which it publishes it, so this is image stamp to detection);
- dropped = frames after the initial one that never got a detection; late = answered after
  their deadline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hit_core.errors import DatasetError

if TYPE_CHECKING:
    from hit_core.data.sequence import Sequence
    from hit_core.eval.metrics import SequenceCurves
    from hit_core.eval.rosbag import TrackingBag
    from hit_core.eval.rosbag_eval import BagEvaluation
    from hit_core.eval.scoring import TrackerScores

REPLAY_FORMAT = "hit_ros.replay/1"


@dataclass(frozen=True)
class ReplayDetection:
    """One ``Detection2DArray`` the recorder received: its header stamp, arrival time (ns),
    box ``x, y, w, h`` (None for an empty array) and score."""

    stamp_ns: int
    received_ns: int
    box: tuple[float, float, float, float] | None
    score: float


@dataclass(frozen=True)
class ReplayRecord:
    """What the player saw; see the module docstring. ``frame_stamps_ns[i]`` / ``frame_sent_ns[i]``
    are the stamp frame ``i`` was published with and when it was sent (or, with an external
    player, received by the recorder); -1 where the recorder never saw frame ``i``."""

    player: str
    rate_hz: float
    period_ns: int
    init_index: int
    init_box: tuple[float, float, float, float]
    track_id: str
    frame_stamps_ns: np.ndarray
    frame_sent_ns: np.ndarray
    detections: tuple[ReplayDetection, ...]
    diagnostics: tuple[dict, ...]
    node: dict

    @staticmethod
    def from_json(data: dict) -> ReplayRecord:
        """Parse and validate a ``hit_ros.replay/1`` document."""
        if data.get("format") != REPLAY_FORMAT:
            raise DatasetError(f"not a replay record: expected format {REPLAY_FORMAT!r}, got {data.get('format')!r}")
        try:
            frames = data["frames"]
            init = data["init"]
            detections = tuple(
                ReplayDetection(
                    int(d["stamp_ns"]),
                    int(d["received_ns"]),
                    None if d["box"] is None else tuple(float(v) for v in d["box"]),
                    float(d["score"]),
                )
                for d in data["detections"]
            )
            return ReplayRecord(
                player=str(data["player"]),
                rate_hz=float(data["rate_hz"]),
                period_ns=int(data["period_ns"]),
                init_index=int(init["index"]),
                init_box=tuple(float(v) for v in init["box"]),
                track_id=str(init.get("track_id", "")),
                frame_stamps_ns=np.asarray(frames["stamp_ns"], dtype=np.int64),
                frame_sent_ns=np.asarray(frames["sent_ns"], dtype=np.int64),
                detections=detections,
                diagnostics=tuple(data.get("diagnostics", ())),
                node=dict(data.get("node", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"malformed replay record: {error!r}") from None


def load_replay_record(path: str | Path) -> ReplayRecord:
    """Read the JSON file the player wrote."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"replay record {path} does not exist; the player did not finish")
    return ReplayRecord.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class ReplayOutcome:
    """Per-frame robot view and the summary of a live replay.

    ``boxes``: (N, 4) the robot's box per frame (frame 0 = the ``set_target`` box);
    ``lost``: frames where the robot had no box (node reported the target lost);
    ``answered`` / ``on_time``: frames the node answered at all / before the next frame was due;
    ``latency_ms``: per frame, NaN where unanswered; ``source_frame``: which frame's detection the
    robot's box came from (-1 = the ``set_target`` box).
    """

    boxes: np.ndarray
    lost: np.ndarray
    answered: np.ndarray
    on_time: np.ndarray
    latency_ms: np.ndarray
    source_frame: np.ndarray
    unmatched_detections: int

    def summary(self) -> dict[str, float | int]:
        """Frame counts, drop/late/lost rates (percent of frames after the first) and latency
        p50/p95/max/mean in ms over answered frames (NaN when none was answered)."""
        tracked = len(self.boxes) - 1
        latencies = self.latency_ms[self.answered]
        stats = (
            {
                "latency_p50_ms": float(np.percentile(latencies, 50)),
                "latency_p95_ms": float(np.percentile(latencies, 95)),
                "latency_max_ms": float(latencies.max()),
                "latency_mean_ms": float(latencies.mean()),
            }
            if len(latencies)
            else dict.fromkeys(("latency_p50_ms", "latency_p95_ms", "latency_max_ms", "latency_mean_ms"), float("nan"))
        )
        dropped = int((~self.answered[1:]).sum())
        late = int((self.answered[1:] & ~self.on_time[1:]).sum())
        lost = int(self.lost[1:].sum())
        return {
            "frames": len(self.boxes),
            "answered": int(self.answered[1:].sum()),
            "dropped": dropped,
            "late": late,
            "lost": lost,
            "drop_rate": 100.0 * dropped / tracked if tracked else 0.0,
            "late_rate": 100.0 * late / tracked if tracked else 0.0,
            "lost_rate": 100.0 * lost / tracked if tracked else 0.0,
            "unmatched_detections": self.unmatched_detections,
            **stats,
        }


def robot_view(record: ReplayRecord, frame_count: int) -> ReplayOutcome:
    """Replay ``record`` through the robot's eyes for a bag of ``frame_count`` images."""
    if len(record.frame_stamps_ns) != frame_count or len(record.frame_sent_ns) != frame_count:
        raise DatasetError(
            f"replay record covers {len(record.frame_stamps_ns)} frames but the bag has {frame_count}; "
            f"score a record against the bag it was made from"
        )
    if record.init_index != 0:
        raise DatasetError(f"the replay must start tracking on frame 0, the record says {record.init_index}")
    sent = _filled_send_times(record)
    row_of = {int(s): i for i, s in enumerate(record.frame_stamps_ns) if s >= 0}
    answered = np.zeros(frame_count, dtype=bool)
    on_time = np.zeros(frame_count, dtype=bool)
    latency = np.full(frame_count, np.nan)
    matched: list[tuple[int, int, ReplayDetection]] = []
    unmatched = 0
    for detection in record.detections:
        row = row_of.get(detection.stamp_ns)
        if row is None or row == 0 or answered[row]:
            unmatched += 1
            continue
        answered[row] = True
        latency[row] = (detection.received_ns - sent[row]) / 1e6
        on_time[row] = detection.received_ns <= sent[row] + record.period_ns
        matched.append((detection.received_ns, row, detection))
    matched.sort(key=lambda item: item[0])

    boxes = np.zeros((frame_count, 4))
    boxes[0] = record.init_box
    lost = np.zeros(frame_count, dtype=bool)
    source = np.full(frame_count, -1, dtype=np.int64)
    current_box: tuple[float, float, float, float] | None = record.init_box
    current_source = -1
    pointer = 0
    for row in range(1, frame_count):
        deadline = sent[row] + record.period_ns
        while pointer < len(matched) and matched[pointer][0] <= deadline:
            _, current_source, detection = matched[pointer]
            current_box = detection.box
            pointer += 1
        source[row] = current_source
        if current_box is None:
            lost[row] = True
            boxes[row] = boxes[row - 1]
        else:
            boxes[row] = current_box
    return ReplayOutcome(boxes, lost, answered, on_time, latency, source, unmatched)


def _filled_send_times(record: ReplayRecord) -> np.ndarray:
    """Send times, with frames the recorder never saw placed one nominal period after the
    previous frame (only an external player can miss frames)."""
    sent = record.frame_sent_ns.astype(np.int64).copy()
    if sent[0] < 0:
        raise DatasetError("the replay record has no send time for frame 0 (the target frame)")
    for row in range(1, len(sent)):
        if sent[row] < 0:
            sent[row] = sent[row - 1] + record.period_ns
    return sent


def live_curves(outcome: ReplayOutcome, ground_truth: np.ndarray, *, mode: str = "stark") -> SequenceCurves:
    """Success and precision curves of the robot's boxes under OPE ``mode`` of
    :mod:`hit_core.eval.metrics`, with lost frames as failures; ``.scores()`` gives percent."""
    from hit_core.eval.metrics import curves_from_errors, ope_frame_errors

    errors = ope_frame_errors(outcome.boxes, ground_truth, mode=mode, name="live replay")
    # got10k mode scores only the frames that have a ground-truth box.
    lost = outcome.lost[~np.isnan(ground_truth).any(axis=1)] if mode == "got10k" else outcome.lost
    if lost.any():
        overlap, center, norm = errors.overlap.copy(), errors.center.copy(), errors.norm_center.copy()
        overlap[lost] = -1.0
        center[lost] = np.inf
        norm[lost] = np.inf
        errors = type(errors)(overlap, center, norm, errors.valid & ~lost)
    return curves_from_errors(errors)


def frames_table(record: ReplayRecord, outcome: ReplayOutcome) -> list[dict[str, Any]]:
    """One row per frame for a CSV: stamps, times, latency, flags and the robot's box."""
    rows = []
    for i in range(len(outcome.boxes)):
        x, y, w, h = (float(v) for v in outcome.boxes[i])
        rows.append(
            {
                "frame": i,
                "stamp_ns": int(record.frame_stamps_ns[i]),
                "sent_ns": int(record.frame_sent_ns[i]),
                "answered": bool(outcome.answered[i]),
                "on_time": bool(outcome.on_time[i]),
                "latency_ms": None if np.isnan(outcome.latency_ms[i]) else round(float(outcome.latency_ms[i]), 3),
                "lost": bool(outcome.lost[i]),
                "box_from_frame": int(outcome.source_frame[i]),
                "x": x,
                "y": y,
                "w": w,
                "h": h,
            }
        )
    return rows


# ----------------------------------------------------------------------------- report

_LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
LATENCY_DEFINITION = (
    "end-to-end latency = time the detection was received by the replay process - the image's header stamp, "
    "which the builtin player sets to the wall-clock time at which it publishes the image (same machine); "
    "with --player ros2 the image's arrival at the replay process replaces the stamp"
)


def write_replay_report(
    bag_path: str | Path,
    output_dir: str | Path,
    record_path: str | Path,
    offline: BagEvaluation | None,
    *,
    image_topic: str | None = None,
    ground_truth_topic: str | None = None,
    mode: str = "stark",
    video: bool = True,
    warning: str = "",
) -> dict[str, Path]:
    """Score a replay record against its bag and write everything a user looks at.

    Files in ``output_dir``: ``results.json``, ``report.md``, ``report.csv`` and ``plots/`` (the
    evaluation toolkit's, with the trackers ``live`` = the robot's view and ``offline`` when given),
    ``live/<sequence>.txt`` (robot boxes; ``_time.txt`` holds each frame's latency in s, nan where
    unanswered), ``frames.csv`` (per-frame robot view), ``latency.md`` (latency, drops, accuracy side
    by side, diagnostics), ``diagnostics.json`` (every ``/diagnostics`` message seen), ``summary.json``
    and, with ``video``, ``replay.mp4``. Returns the paths by name.
    """
    from hit_core.data.sequence import Sequence
    from hit_core.eval.report import write_report
    from hit_core.eval.results import atomic_write_text, write_json, write_sequence_result
    from hit_core.eval.rosbag import open_tracking_bag
    from hit_core.eval.rosbag_eval import BAG_DATASET

    output_dir = Path(output_dir)
    record = load_replay_record(record_path)
    with open_tracking_bag(bag_path, image_topic=image_topic, ground_truth_topic=ground_truth_topic) as bag:
        outcome = robot_view(record, len(bag))
        truth = bag.ground_truth
        live_dir = output_dir / "live"
        write_sequence_result(live_dir, bag.name, outcome.boxes, outcome.latency_ms / 1e3)
        sequence = offline.sequence if offline is not None else Sequence(bag.name, BAG_DATASET, (), truth)
        live = _live_scores(outcome, sequence, mode, record)
        trackers = ([*offline.scores] if offline is not None else []) + [live]
        written = write_report(output_dir, BAG_DATASET, str(bag.path), mode, trackers, [sequence])
        written["live"] = live_dir
        written["frames"] = output_dir / "frames.csv"
        atomic_write_text(written["frames"], _csv(frames_table(record, outcome)))
        written["diagnostics"] = output_dir / "diagnostics.json"
        write_json(written["diagnostics"], {"messages": list(record.diagnostics)})
        summary = {
            "bag": str(bag.path),
            "sequence": bag.name,
            "frames": len(bag),
            "player": record.player,
            "rate_hz": record.rate_hz,
            "node": record.node,
            "warning": warning or None,
            "latency_definition": LATENCY_DEFINITION,
            "live": {**outcome.summary(), **live.mean},
            "offline": dict(offline.scores[0].mean) if offline is not None else None,
        }
        written["summary"] = output_dir / "summary.json"
        write_json(written["summary"], summary)
        written["latency"] = output_dir / "latency.md"
        atomic_write_text(written["latency"], _latency_markdown(summary, record))
        if video:
            written["video"] = output_dir / "replay.mp4"
            offline_boxes = None
            if offline is not None:
                from hit_core.eval.results import read_sequence_result

                offline_boxes, _ = read_sequence_result(output_dir / offline.scores[0].name, bag.name)
            _write_video(written["video"], bag, outcome, offline_boxes, record.rate_hz)
    return written


def _live_scores(outcome: ReplayOutcome, sequence: Sequence, mode: str, record: ReplayRecord) -> TrackerScores:
    from hit_core.eval.metrics import average_curves
    from hit_core.eval.scoring import METRIC_KEYS, TrackerScores

    info = {"kind": "live replay", "player": record.player, "node": record.node}
    scores = TrackerScores(name="live", info=info)
    truth = sequence.ground_truth
    entry: dict[str, float | int | None] = dict.fromkeys(METRIC_KEYS)
    if np.isfinite(truth[1:]).all(axis=1).any():
        curves = live_curves(outcome, truth, mode=mode)
        scores.curves[sequence.name] = curves
        scores.dataset_curves = average_curves([curves])
        entry.update({key: value for key, value in curves.scores().items() if key in METRIC_KEYS})
    # fps of the live run = boxes the robot received per second of replay.
    answered = int(outcome.answered.sum())
    span_s = (int(record.frame_sent_ns.max()) - int(record.frame_sent_ns[record.frame_sent_ns >= 0].min())) / 1e9
    entry["fps"] = answered / span_s if span_s > 0 else None
    entry["frames"] = len(outcome.boxes)
    scores.sequences[sequence.name] = entry
    scores.mean = {**entry, "sequences": 1}
    return scores


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _latency_markdown(summary: dict, record: ReplayRecord) -> str:
    live, offline = summary["live"], summary["offline"] or {}
    tracked = summary["frames"] - 1
    lines = [f"# Live replay of {summary['sequence']}", ""]
    if summary["warning"]:
        lines += ["> **" + summary["warning"].replace("\n", " ") + "**", ""]
    node = record.node
    started = "started by the replay" if node.get("started") else "already running"
    parameters = ", ".join(f"{k}={v}" for k, v in node.get("parameters", {}).items())
    lines += [
        f"{summary['frames']} frames played at {summary['rate_hz']:.2f} Hz by the {summary['player']} player into "
        f"the tracker node ({started}{'; ' + parameters if parameters else ''}).",
        "",
        "| | live (what the robot saw) | offline (every frame, no deadline) |",
        "|---|---:|---:|",
    ]
    for key, label in (
        ("auc", "AUC (%)"),
        ("precision", "P@20px (%)"),
        ("norm_precision", "Pnorm@0.2 (%)"),
        ("op50", "OP50 (%)"),
        ("op75", "OP75 (%)"),
    ):
        lines.append(f"| {label} | {_number(live.get(key))} | {_number(offline.get(key))} |")
    lines += [
        f"| frames answered | {live['answered']} / {tracked} | {tracked} / {tracked} |",
        f"| dropped (never answered) | {live['dropped']} ({_number(live['drop_rate'])}%) | - |",
        f"| late (after the next frame was due) | {live['late']} ({_number(live['late_rate'])}%) | - |",
        f"| lost (empty detection) | {live['lost']} ({_number(live['lost_rate'])}%) | - |",
        f"| latency p50 / p95 / max (ms) | {_number(live['latency_p50_ms'])} / {_number(live['latency_p95_ms'])} / "
        f"{_number(live['latency_max_ms'])} | - |",
        f"| boxes per second | {_number(live.get('fps'))} | {_number(offline.get('fps'))} (tracker only) |",
        "",
        "Scoring: OPE with the first frame given; a frame the node skipped or answered late keeps the last box "
        "the robot received (before the first one: the set_target box); an empty detection counts as a failure.",
        f"Latency: {LATENCY_DEFINITION}.",
        "",
    ]
    lines += _diagnostics_markdown(record.diagnostics)
    return "\n".join(lines) + "\n"


def _diagnostics_markdown(messages: tuple[dict, ...]) -> list[str]:
    if not messages:
        return ["## Diagnostics", "", "No /diagnostics message was received during the replay.", ""]
    seen: dict[str, int] = {}
    last: dict[str, dict] = {}
    for message in messages:
        for status in message["status"]:
            level = _LEVELS.get(int(status["level"]), str(status["level"]))
            seen[level] = seen.get(level, 0) + 1
            last[status["name"]] = status
    lines = [
        "## Diagnostics",
        "",
        f"{len(messages)} /diagnostics messages; status levels seen: "
        + ", ".join(f"{level} x{count}" for level, count in sorted(seen.items())),
        "",
    ]
    for name, status in sorted(last.items()):
        level = _LEVELS.get(int(status["level"]), str(status["level"]))
        lines += [f"Last `{name}` ({status['hardware_id']}): **{level}** {status['message']}", ""]
        lines += ["| key | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in status["values"].items()]
        lines.append("")
    return lines


def _write_video(
    path: Path, bag: TrackingBag, outcome: ReplayOutcome, offline_boxes: np.ndarray | None, rate_hz: float
) -> None:
    """Frames with the ground truth (green), the offline box (blue) and the robot's live box
    (orange; thin when it is an earlier frame's box)."""
    import cv2

    from hit_core.eval.rosbag import bgr_copy

    writer = None
    try:
        for frame in bag.frames():
            canvas = bgr_copy(frame.image, frame.color)
            if writer is None:
                size = (canvas.shape[1], canvas.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(rate_hz), size)
                if not writer.isOpened():
                    raise DatasetError(f"OpenCV cannot write {path} (no mp4v encoder); use --no-video")
            i = frame.index
            truth = bag.ground_truth[i]
            if np.isfinite(truth).all():
                _rectangle(canvas, truth, (0, 200, 0), 1)
            if offline_boxes is not None:
                _rectangle(canvas, offline_boxes[i], (230, 120, 0), 1)
            if outcome.lost[i]:
                label = "live: LOST"
            else:
                fresh = outcome.source_frame[i] == i
                _rectangle(canvas, outcome.boxes[i], (0, 140, 255), 2 if fresh else 1)
                source = outcome.source_frame[i]
                label = (
                    "live: own box"
                    if fresh
                    else ("live: set_target box" if source < 0 else f"live: box of frame {source}")
                )
            latency = outcome.latency_ms[i]
            text = f"#{i} {label}" + (f"  {latency:.0f} ms" if np.isfinite(latency) else "")
            cv2.putText(canvas, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(canvas, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(canvas)
    finally:
        if writer is not None:
            writer.release()


def _rectangle(canvas: np.ndarray, box: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    import cv2

    x, y, w, h = (int(round(float(v))) for v in box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), color, thickness)
