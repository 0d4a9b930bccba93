"""``hit bag eval``: offline evaluation on a bag equals ``hit eval`` on the same sequence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags", reason="the bag tools need the 'rosbags' package (pip install rosbags)")

from hit_core.cli import main  # noqa: E402
from hit_core.errors import ConfigError  # noqa: E402

SEQUENCE = "Crossing"


def _sequence_results(output: Path, tracker: str) -> dict:
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    entry = dict(results["trackers"][tracker]["sequences"][SEQUENCE])
    entry.pop("fps")  # wall-clock speed differs between any two runs
    return entry


def _hit_eval(sequence: Path, output: Path, trackers: list[str], *options: str) -> int:
    """``hit eval`` of ``trackers`` on one sequence folder, results under ``output``."""
    arguments = ["--dataset", "folder", "--root", str(sequence), "--tracker", *trackers, "--output", str(output)]
    return main(["eval", *arguments, *options])


def test_bag_eval_equals_hit_eval(short_crossing: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    common = ["--checkpoint", str(tiny_checkpoint), "--backend", "torch", "--threads", "1", "--no-progress"]
    reference = tmp_path / "hit_eval"
    assert _hit_eval(short_crossing, reference, ["hit", "csrt"], *common) == 0
    bag = tmp_path / "crossing_bag"
    assert main(["bag", "make", str(short_crossing), str(bag)]) == 0
    evaluated = tmp_path / "bag_eval"
    assert main(["bag", "eval", str(bag), "--tracker", "hit", "csrt", "--output", str(evaluated), *common]) == 0

    for tracker in ("hit_tiny", "csrt"):
        boxes = f"{tracker}/{SEQUENCE}.txt"
        assert (evaluated / boxes).read_text() == (reference / boxes).read_text(), tracker
        assert _sequence_results(evaluated, tracker) == _sequence_results(reference, tracker)
    for name in ("report.md", "report.csv", "plots/success.png", "plots/precision.png"):
        assert (evaluated / name).is_file(), name


@pytest.mark.parametrize("options", [["--compressed"], ["--encoding", "rgb8", "--storage", "sqlite3"]])
def test_compressed_and_rgb_bags_give_the_same_result(short_crossing: Path, tmp_path: Path, options: list[str]) -> None:
    reference = tmp_path / "hit_eval"
    assert _hit_eval(short_crossing, reference, ["csrt"], "--no-progress") == 0
    bag = tmp_path / "bag"
    assert main(["bag", "make", str(short_crossing), str(bag), *options]) == 0
    evaluated = tmp_path / "bag_eval"
    assert main(["bag", "eval", str(bag), "--tracker", "csrt", "--output", str(evaluated), "--no-progress"]) == 0
    assert (evaluated / "csrt" / f"{SEQUENCE}.txt").read_text() == (reference / "csrt" / f"{SEQUENCE}.txt").read_text()


def test_ground_truth_file_box_option_and_unscored_bags(short_crossing: Path, tmp_path: Path) -> None:
    from hit_core.eval.rosbag_eval import evaluate_bag
    from hit_core.eval.trackers import TrackerSpec

    bag = tmp_path / "bag"
    assert main(["bag", "make", str(short_crossing), str(bag), "--gt-topic", "/labels"]) == 0
    csrt = [TrackerSpec("csrt")]
    # A ground-truth topic that does not exist is an error, not an unscored run.
    with pytest.raises(ConfigError, match="no topic /ground_truth"):
        evaluate_bag(bag, tmp_path / "a", csrt, ground_truth_topic="/ground_truth", progress=False)

    # The same boxes from a file score the same as from the topic.
    from_topic = evaluate_bag(bag, tmp_path / "topic", csrt, progress=False)
    from_file = evaluate_bag(
        bag, tmp_path / "file", csrt, ground_truth_file=short_crossing / "groundtruth.txt", progress=False
    )
    assert from_file.scores[0].mean["auc"] == from_topic.scores[0].mean["auc"] > 0

    # Only the first box known: the tracker runs from --box, nothing can be scored.
    first_only = tmp_path / "first.txt"
    first_only.write_text((short_crossing / "groundtruth.txt").read_text().splitlines()[0] + "\n")
    unscored = evaluate_bag(bag, tmp_path / "none", csrt, ground_truth_file=first_only, progress=False)
    assert unscored.scores[0].mean["auc"] is None
    boxes = np.loadtxt(tmp_path / "none" / "csrt" / f"{SEQUENCE}.txt", delimiter=",")
    assert boxes.shape == (20, 4)

    start = (200.0, 150.0, 20.0, 50.0)
    moved = evaluate_bag(bag, tmp_path / "box", csrt, init_box=start, progress=False)
    first_row = np.loadtxt(tmp_path / "box" / "csrt" / f"{SEQUENCE}.txt", delimiter=",")[0]
    np.testing.assert_allclose(first_row, start)
    assert moved.scores[0].mean["frames"] == 20

    with pytest.raises(ConfigError, match="initial box"):
        evaluate_bag(bag, tmp_path / "bad", csrt, init_box=(1.0, 2.0, 0.0, 4.0), progress=False)
