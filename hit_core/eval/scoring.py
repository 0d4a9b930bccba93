"""Score raw results of one tracker on one benchmark, under the benchmark's protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError
from hit_core.eval.metrics import (
    DatasetCurves,
    SequenceCurves,
    average_curves,
    got10k_frame_ious,
    got10k_pooled,
    ope_curves,
)
from hit_core.eval.results import is_finished, read_sequence_result


@dataclass(frozen=True)
class Benchmark:
    """An evaluation dataset: which reader and split, and the protocol details its toolkit uses.

    ``use_visibility``: absent frames (LaSOT full occlusion / out of view) count as failures.
    ``invalid_center_hit``: pytracking's UAV123 rule (invalid frames pass the precision plot).
    ``full_length``: results shorter than the sequence are an error (LaSOT) instead of padded.
    ``got10k``: also report GOT-10k's pooled AO / SR. ``scored``: the split has per-frame ground
    truth (test splits of GOT-10k and TrackingNet are scored by their servers).
    """

    reader: str
    split: str | None = None
    scored: bool = True
    use_visibility: bool = False
    invalid_center_hit: bool = False
    full_length: bool = False
    got10k: bool = False
    submission: str | None = None


BENCHMARKS: dict[str, Benchmark] = {
    "otb": Benchmark("otb"),
    "lasot": Benchmark("lasot", "test", use_visibility=True, full_length=True),
    "lasot_ext": Benchmark("lasot_ext", use_visibility=True, full_length=True),
    "got10k_val": Benchmark("got10k", "val", got10k=True),
    "got10k_test": Benchmark("got10k", "test", scored=False, submission="got10k"),
    "trackingnet": Benchmark("trackingnet", "test", scored=False, submission="trackingnet"),
    "uav123": Benchmark("uav123", invalid_center_hit=True),
    "uav123_10fps": Benchmark("uav123_10fps", invalid_center_hit=True),
    "nfs": Benchmark("nfs"),
    "folder": Benchmark("folder"),
}

METRIC_KEYS = ("auc", "precision", "norm_precision", "op50", "op75")


@dataclass
class TrackerScores:
    """Scores of one tracker: per sequence and dataset means (percent), curves for plots."""

    name: str
    info: dict
    sequences: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    mean: dict[str, float | int | None] = field(default_factory=dict)
    curves: dict[str, SequenceCurves] = field(default_factory=dict)
    dataset_curves: DatasetCurves | None = None
    got10k: dict | None = None


def _fps(frames: int, times: np.ndarray | None) -> float | None:
    if times is None or len(times) == 0 or not np.isfinite(times).all() or times.sum() <= 0:
        return None
    return float(frames / times.sum())


def _image_size(sequence: Sequence) -> tuple[float, float]:
    size = sequence.extra.get("image_size")
    if size is not None:
        return float(size[0]), float(size[1])
    height, width = sequence.frame(0).shape[:2]
    return float(width), float(height)


def missing_sequences(sequences: list[Sequence], tracker_dir: Path) -> list[str]:
    """Names of sequences without a finished result in ``tracker_dir``."""
    return [s.name for s in sequences if not is_finished(tracker_dir, s.name, len(s))]


def score_tracker(
    sequences: list[Sequence],
    tracker_dir: str | Path,
    benchmark: Benchmark,
    *,
    mode: str = "stark",
    info: dict | None = None,
) -> TrackerScores:
    """Score the raw results in ``tracker_dir`` (one ``<sequence>.txt`` per sequence).

    Per sequence: ``auc``, ``precision`` (P@20 px), ``norm_precision`` (P_norm@0.20), ``op50``,
    ``op75`` in percent (None on splits without ground truth), ``fps`` (frames / tracker
    seconds, initialisation included) and ``frames``. ``mean``: the unweighted means of the
    per-sequence metrics, ``fps`` = all frames / all seconds, ``frames`` = all frames.
    """
    tracker_dir = Path(tracker_dir)
    missing = missing_sequences(sequences, tracker_dir)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DatasetError(f"{tracker_dir}: no finished result for {len(missing)} sequence(s): {shown}")
    scores = TrackerScores(name=tracker_dir.name, info=dict(info or {}))
    total_frames = 0
    total_seconds = 0.0
    pooled_ious = []
    for sequence in sequences:
        boxes, times = read_sequence_result(tracker_dir, sequence.name)
        frames = len(sequence)
        entry: dict[str, float | int | None] = dict.fromkeys(METRIC_KEYS)
        if benchmark.scored:
            curves = ope_curves(
                boxes,
                sequence.ground_truth,
                sequence.visible if benchmark.use_visibility else None,
                mode=mode,
                invalid_center_hit=benchmark.invalid_center_hit,
                allow_shorter=not benchmark.full_length,
                name=sequence.name,
            )
            scores.curves[sequence.name] = curves
            entry.update({key: value for key, value in curves.scores().items() if key in METRIC_KEYS})
            if benchmark.got10k:
                pooled_ious.append(
                    got10k_frame_ious(
                        boxes,
                        sequence.ground_truth,
                        _image_size(sequence),
                        sequence.extra.get("cover"),
                        name=sequence.name,
                    )
                )
        entry["fps"] = _fps(frames, times)
        entry["frames"] = frames
        scores.sequences[sequence.name] = entry
        total_frames += frames
        total_seconds += float(times.sum()) if times is not None else float("nan")
    if benchmark.scored:
        scores.dataset_curves = average_curves(list(scores.curves.values()))
        scores.mean = {key: scores.dataset_curves.scores[key] for key in METRIC_KEYS}
    else:
        scores.mean = dict.fromkeys(METRIC_KEYS)
    scores.mean["fps"] = total_frames / total_seconds if total_seconds > 0 else None
    scores.mean["frames"] = total_frames
    scores.mean["sequences"] = len(sequences)
    if pooled_ious:
        scores.got10k = got10k_pooled(pooled_ious)
    return scores


def attribute_curves(scores: TrackerScores, sequences: list[Sequence]) -> dict[str, DatasetCurves]:
    """Sequence-averaged curves per attribute (only attributes some sequence has)."""
    groups: dict[str, list[SequenceCurves]] = {}
    for sequence in sequences:
        if sequence.name not in scores.curves:
            continue
        for attribute in sequence.attributes:
            groups.setdefault(attribute, []).append(scores.curves[sequence.name])
    return {name: average_curves(group) for name, group in sorted(groups.items())}
