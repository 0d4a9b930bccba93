"""The runner: raw result files, resume, partial files, worker processes, scoring of what it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hit_core.data import Sequence, load_dataset
from hit_core.errors import CheckpointError, ConfigError
from hit_core.eval.results import box_path, is_finished, read_sequence_result, time_path
from hit_core.eval.runner import run_tracker, track_sequence
from hit_core.eval.scoring import BENCHMARKS, score_tracker
from hit_core.eval.trackers import BoxResult, OpenCVTracker, TrackerSpec, threads_per_worker


class GroundTruthReplay:
    """Answers each frame with the ground truth: a tracker with a known, perfect score."""

    def __init__(self, ground_truth: np.ndarray) -> None:
        self.ground_truth = ground_truth
        self.frame = 0

    def initialize(self, frame: np.ndarray, box: Any) -> None:
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
        self.frame = 0

    def track(self, frame: np.ndarray) -> BoxResult:
        self.frame += 1
        return BoxResult(self.ground_truth[self.frame])


@dataclass(frozen=True)
class ReplayFactory:
    ground_truth: tuple[tuple[float, ...], ...]
    name: str = "replay"

    def identity(self) -> dict[str, Any]:
        return {"kind": "replay"}

    def build(self, threads: int | None = None) -> GroundTruthReplay:
        return GroundTruthReplay(np.asarray(self.ground_truth))


def _first_frames(sequence: Sequence, count: int) -> Sequence:
    return Sequence(sequence.name, sequence.dataset, sequence.frames[:count], sequence.ground_truth[:count])


@pytest.fixture(scope="module")
def short_sequences(data_dir: Path) -> list[Sequence]:
    """Crossing (its first 40 frames) and wakeboard7 (all 67): real footage, a few seconds of tracking."""
    sequences = {s.name: s for s in load_dataset("folder", data_dir)}
    return [_first_frames(sequences["OTB100/Crossing"], 40), sequences["UAV123_10fps/wakeboard7"]]


def test_perfect_tracker_scores_the_ceiling(short_sequences: list[Sequence], tmp_path: Path) -> None:
    sequence = short_sequences[1]
    factory = ReplayFactory(tuple(map(tuple, sequence.ground_truth)))
    summary = run_tracker(factory, [sequence], tmp_path, dataset="folder", progress=False)
    assert summary.tracked == ("UAV123_10fps/wakeboard7",)
    boxes, times = read_sequence_result(summary.tracker_dir, sequence.name)
    np.testing.assert_allclose(boxes, sequence.ground_truth, atol=5e-4)
    assert len(times) == len(sequence) and (times >= 0).all()
    scores = score_tracker([sequence], summary.tracker_dir, BENCHMARKS["folder"])
    # IoU 1 passes every threshold but 1.0: AUC = 20/21
    assert scores.mean["auc"] == pytest.approx(100 * 20 / 21)
    assert scores.mean["precision"] == pytest.approx(100.0)
    assert scores.mean["frames"] == 67 and scores.sequences[sequence.name]["fps"] > 0


def test_resume_skips_finished_and_redoes_partial(short_sequences: list[Sequence], tmp_path: Path) -> None:
    spec = TrackerSpec("kcf")
    first = run_tracker(spec, short_sequences, tmp_path, dataset="folder", progress=False)
    assert first.tracked == ("OTB100/Crossing", "UAV123_10fps/wakeboard7")
    crossing = box_path(first.tracker_dir, "OTB100/Crossing")
    reference = crossing.read_text()
    lines = reference.splitlines()
    crossing.write_text("\n".join(lines[:10]) + "\n")  # as if a run had died while writing
    assert not is_finished(first.tracker_dir, "OTB100/Crossing", 40)
    second = run_tracker(spec, short_sequences, tmp_path, dataset="folder", progress=False)
    assert second.tracked == ("OTB100/Crossing",)
    assert second.skipped == ("UAV123_10fps/wakeboard7",)
    assert crossing.read_text() == reference  # KCF is deterministic
    assert time_path(first.tracker_dir, "OTB100/Crossing").is_file()
    assert not list(first.tracker_dir.rglob("*.partial"))


def test_worker_processes_give_the_same_results(short_sequences: list[Sequence], tmp_path: Path) -> None:
    spec = TrackerSpec("kcf")
    single = run_tracker(spec, short_sequences, tmp_path / "one", dataset="folder", progress=False)
    pooled = run_tracker(spec, short_sequences, tmp_path / "two", dataset="folder", workers=2, progress=False)
    assert pooled.tracked == single.tracked
    for sequence in short_sequences:
        assert (
            box_path(pooled.tracker_dir, sequence.name).read_text()
            == box_path(single.tracker_dir, sequence.name).read_text()
        )


def test_results_of_another_configuration_are_not_mixed(short_sequences: list[Sequence], tmp_path: Path) -> None:
    run_tracker(TrackerSpec("kcf", label="baseline"), short_sequences[1:], tmp_path, dataset="folder", progress=False)
    info = json.loads((tmp_path / "baseline" / "run.json").read_text())
    assert info["identity"] == {"dataset": "folder", "kind": "kcf"}
    with pytest.raises(ConfigError, match="another configuration"):
        run_tracker(TrackerSpec("mil", label="baseline"), short_sequences[1:], tmp_path, dataset="folder")


def test_opencv_tracker_keeps_the_box_shape(short_sequences: list[Sequence]) -> None:
    sequence = short_sequences[0]
    boxes, times = track_sequence(OpenCVTracker("csrt", threads=1), sequence)
    assert boxes.shape == (40, 4) and times.shape == (40,)
    np.testing.assert_array_equal(boxes[0], sequence.ground_truth[0])
    assert np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()


def test_spec_validation_and_threads() -> None:
    with pytest.raises(ConfigError, match="unknown tracker 'kfc'"):
        TrackerSpec("kfc")
    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        TrackerSpec("csrt", threads=0)
    with pytest.raises(ConfigError, match="plain folder name"):
        TrackerSpec("csrt", label="a/b")
    assert TrackerSpec("hit", variant="Small").name == "hit_small"
    assert TrackerSpec("csrt", variant="base").identity() == {"kind": "csrt"}
    assert threads_per_worker(3, cpu_count=8) == 2
    assert threads_per_worker(4, cpu_count=2) == 1
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        run_tracker(TrackerSpec("kcf"), [], "/tmp", dataset="folder", workers=0)


def test_a_worker_build_error_reaches_the_caller(short_sequences: list[Sequence], tmp_path: Path) -> None:
    spec = TrackerSpec("hit", checkpoint=str(tmp_path / "missing.pth"), backend="onnxruntime")
    with pytest.raises(CheckpointError, match="missing.pth not found"):
        run_tracker(spec, short_sequences, tmp_path, dataset="folder", workers=2, progress=False)
