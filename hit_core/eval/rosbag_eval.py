"""Offline, deterministic evaluation of trackers on a bag, with the evaluation toolkit.

The bag's images are written once to a temporary folder as image files (compressed images
keep their original JPEG/PNG bytes; raw images become lossless BMP in BGR order), which
makes the bag an ordinary one-sequence dataset. The evaluation runner, metrics, tables and
plots of ``hit eval`` then run on it unchanged, so ``hit bag eval`` on a bag made from a
sequence gives exactly what ``hit eval`` gives on that sequence (the round trip keeps every
pixel and box). The temporary copy needs about as much disk as the bag's raw images.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hit_core.data.sequence import Sequence
from hit_core.errors import ConfigError, DatasetError
from hit_core.eval.rosbag import (
    COMPRESSED_IMAGE_TYPE,
    TrackingBag,
    bgr_copy,
    image_from_message,
    open_tracking_bag,
)
from hit_core.eval.scoring import Benchmark, TrackerScores
from hit_core.eval.trackers import TrackerSpec

BAG_DATASET = "bag"


@dataclass(frozen=True)
class BagEvaluation:
    """Result of :func:`evaluate_bag`: the scored sequence (frames already deleted), one
    :class:`TrackerScores` per tracker, and the written files by name (see ``write_report``)."""

    sequence: Sequence
    scores: list[TrackerScores]
    written: dict[str, Path]


def ground_truth_for(bag: TrackingBag, ground_truth_file: str | Path | None) -> np.ndarray:
    """The bag's ground truth (N, 4), or the boxes of ``ground_truth_file`` (one ``x,y,w,h``
    line per image of the bag's image topic, in bag order; fewer lines leave the rest NaN)."""
    if ground_truth_file is None:
        return bag.ground_truth
    from hit_core.data.annotations import pad_ground_truth, read_boxes

    path = Path(ground_truth_file).expanduser()
    return pad_ground_truth(read_boxes(path), len(bag), path)


def write_bag_frames(bag: TrackingBag, folder: Path, *, progress: bool = False) -> tuple[Path, ...]:
    """Write every image of the bag's image topic into ``folder`` as files ``cv2.imread`` decodes
    to exactly the pixels a tracker gets from the bag; returns the paths in bag order."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    messages = bag.image_messages()
    if progress:
        from tqdm import tqdm

        messages = tqdm(messages, total=len(bag), desc=f"frames of {bag.name}", unit="frame")
    paths = []
    for index, message in messages:
        if bag.image_type == COMPRESSED_IMAGE_TYPE:
            suffix = ".png" if "png" in message.format.lower() else ".jpg"
            path = folder / f"{index:08d}{suffix}"
            np.asarray(message.data, dtype=np.uint8).tofile(path)
        else:
            path = folder / f"{index:08d}.bmp"
            if not cv2.imwrite(str(path), bgr_copy(*image_from_message(message, bag.image_type))):
                raise DatasetError(f"cannot write {path}; check the free disk space of the temporary folder")
        paths.append(path)
    return tuple(paths)


def check_init_box(
    box: tuple[float, float, float, float] | None, ground_truth: np.ndarray, bag: TrackingBag
) -> np.ndarray:
    """The box that starts the tracker: ``box`` when given, else the first ground-truth box."""
    if box is not None:
        values = np.asarray(box, dtype=np.float64)
        if values.shape != (4,) or not np.isfinite(values).all() or values[2] <= 0 or values[3] <= 0:
            raise ConfigError(f"initial box {box} must be four finite numbers x, y, w, h with w, h > 0")
        return values
    first = ground_truth[0]
    if not np.isfinite(first).all():
        raise ConfigError(
            f"bag {bag.path} has no ground-truth box for its first image (topic "
            f"{bag.ground_truth_topic or 'none'}); give the initial box with --box x,y,w,h or a file with --gt"
        )
    return first


def evaluate_bag(
    bag_path: str | Path,
    output_dir: str | Path,
    specs: list[TrackerSpec],
    *,
    image_topic: str | None = None,
    ground_truth_topic: str | None = None,
    ground_truth_file: str | Path | None = None,
    init_box: tuple[float, float, float, float] | None = None,
    mode: str = "stark",
    progress: bool = True,
) -> BagEvaluation:
    """Run each tracker of ``specs`` over every image of the bag and score it.

    Trackers start on the first image with ``init_box`` or the first ground-truth box. Raw
    results go to ``output_dir/<tracker>/<bag name>.txt`` (finished ones are kept, as ``hit
    eval`` resumes), then ``results.json``, ``report.md``, ``report.csv`` and plots as ``hit
    eval`` writes them. Without any ground truth the boxes are written and the metrics are empty.
    """
    from hit_core.eval.report import write_report
    from hit_core.eval.runner import run_tracker
    from hit_core.eval.scoring import score_tracker

    if not specs:
        raise ConfigError("no tracker to evaluate; give at least one --tracker")
    output_dir = Path(output_dir).expanduser()
    with open_tracking_bag(bag_path, image_topic=image_topic, ground_truth_topic=ground_truth_topic) as bag:
        truth = ground_truth_for(bag, ground_truth_file)
        start = check_init_box(init_box, truth, bag)
        scored = bool(np.isfinite(truth[1:]).all(axis=1).any()) if len(bag) > 1 else False
        # Results in output_dir are resumed only for the same bag file and tracker settings.
        dataset = f"{BAG_DATASET}:{bag.path.resolve()}"
        with tempfile.TemporaryDirectory(prefix="hit_bag_frames_") as scratch:
            frames = write_bag_frames(bag, Path(scratch), progress=progress)
            run_truth = truth.copy()
            run_truth[0] = start
            sequence = Sequence(
                name=bag.name,
                dataset=BAG_DATASET,
                frames=frames,
                ground_truth=truth,
                extra={"bag": str(bag.path), "image_topic": bag.image_topic},
            )
            for spec in specs:
                run_tracker(
                    spec, [replace(sequence, ground_truth=run_truth)], output_dir, dataset=dataset, progress=progress
                )
        benchmark = Benchmark("bag", scored=scored)
        scores = [
            score_tracker([sequence], output_dir / spec.name, benchmark, mode=mode, info=_info(spec, bag))
            for spec in specs
        ]
        written = write_report(output_dir, BAG_DATASET, str(bag.path), mode, scores, [sequence])
    return BagEvaluation(sequence, scores, written)


def _info(spec: TrackerSpec, bag: TrackingBag) -> dict:
    return {
        **spec.identity(),
        "bag": str(bag.path),
        "image_topic": bag.image_topic,
        "ground_truth_topic": bag.ground_truth_topic,
    }
