"""Cross-check against the ``got10k`` toolkit from PyPI (0.1.3) where its definitions overlap ours.

Identical by definition, so compared to float precision:
- IoU (``rect_iou``; the inclusive-pixel and continuous conventions give the same intersection),
  centre error, the 21-point success and 51-point precision curves of its OTB-style experiments
  (our ``got10k`` mode), and its GOT-10k validation report: AO, SR0.50 and the 101-point curve,
  run end to end on a GOT-10k layout written here.
- Our ``stark``/``pytracking`` modes equal it on sequences where every ground truth is valid and
  every prediction has a positive size; they differ by design elsewhere (validity rules, zero-size
  predictions replaced, NaN rejected; docs/eval.md lists each rule).
Not comparable: normalised precision (0.1.3 has none; later got10k versions report an area, not
P@0.2) and LaSOT (0.1.3 has no LaSOT experiment).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hit_core.data import load_dataset
from hit_core.eval.metrics import (
    center_error,
    got10k_frame_ious,
    got10k_pooled,
    iou_continuous,
    iou_inclusive,
    ope_curves,
)

got10k_metrics = pytest.importorskip("got10k.utils.metrics", reason="pip install got10k==0.1.3 for the cross-check")


def _random_boxes(generator: np.random.Generator, count: int) -> np.ndarray:
    xy = generator.uniform(0, 300, size=(count, 2))
    wh = generator.uniform(5, 120, size=(count, 2))
    return np.round(np.hstack([xy, wh]), 2)


def _track_like(gt: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Predictions that drift around the ground truth and sometimes jump away."""
    pred = gt + generator.normal(0, 6, size=gt.shape)
    pred[:, 2:] = np.clip(pred[:, 2:], 1, None)
    jumps = generator.random(len(gt)) < 0.2
    pred[jumps, :2] += 200
    return pred


def test_iou_and_centre_error_match() -> None:
    generator = np.random.default_rng(0)
    a, b = _random_boxes(generator, 500), _random_boxes(generator, 500)
    b[:250] = a[:250] + generator.normal(0, 10, size=(250, 4))
    b[:, 2:] = np.clip(b[:, 2:], 1, None)
    reference = got10k_metrics.rect_iou(a.copy(), b.copy())
    np.testing.assert_allclose(iou_continuous(a, b), reference, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(iou_inclusive(a, b), reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(center_error(a, b), got10k_metrics.center_error(a, b), rtol=1e-12)


def test_ope_curves_match_the_otb_experiment() -> None:
    from got10k.experiments import ExperimentOTB

    experiment = ExperimentOTB.__new__(ExperimentOTB)  # the curve code only needs the bin counts
    experiment.nbins_iou, experiment.nbins_ce = 21, 51
    generator = np.random.default_rng(1)
    for _ in range(20):
        gt = _random_boxes(generator, 80)
        pred = _track_like(gt, generator)
        reference_pred = pred.copy()
        reference_pred[0] = gt[0]
        ious = got10k_metrics.rect_iou(reference_pred, gt.copy())
        success, precision = experiment._calc_curves(ious, got10k_metrics.center_error(reference_pred, gt))
        for mode in ("got10k", "stark", "pytracking"):
            ours = ope_curves(pred, gt, mode=mode)
            np.testing.assert_allclose(ours.success, success, atol=1e-12)
            np.testing.assert_allclose(ours.precision, precision, atol=1e-12)


def _write_got10k_val(root: Path, frames_source: list[Path], generator: np.random.Generator) -> None:
    names = [f"GOT-10k_Val_{i:06d}" for i in (1, 2, 3)]
    (root / "val").mkdir(parents=True)
    (root / "val" / "list.txt").write_text("\n".join(names) + "\n")
    for number, name in enumerate(names):
        folder = root / "val" / name
        folder.mkdir()
        count = 12 + 4 * number
        for index in range(count):
            (folder / f"{index + 1:08d}.jpg").symlink_to(frames_source[index])
        gt = _random_boxes(generator, count)
        gt[1, 0] = -15.0  # partly outside the image: the clipping matters
        np.savetxt(folder / "groundtruth.txt", gt, fmt="%.4f", delimiter=",")
        cover = generator.integers(0, 9, size=count)
        np.savetxt(folder / "cover.label", cover, fmt="%d")
        np.savetxt(folder / "absence.label", (cover == 0).astype(int), fmt="%d")
        np.savetxt(folder / "cut_by_image.label", np.zeros(count, dtype=int), fmt="%d")
        (folder / "meta_info.ini").write_text("[METAINFO]\nobject_class: test\nresolution: (360, 240)\n")


def test_got10k_val_report_matches(tmp_path: Path, data_dir: Path) -> None:
    from got10k.experiments import ExperimentGOT10k

    generator = np.random.default_rng(2)
    frames = sorted((data_dir / "OTB100" / "Crossing" / "img").iterdir())
    root = tmp_path / "GOT-10k"
    _write_got10k_val(root, frames, generator)
    sequences = load_dataset("got10k", root, "val")
    result_dir, report_dir = tmp_path / "results", tmp_path / "reports"
    ours = []
    for sequence in sequences:
        pred = _track_like(sequence.ground_truth, generator)
        record = result_dir / "GOT-10k" / "mine" / sequence.name / f"{sequence.name}_001.txt"
        record.parent.mkdir(parents=True)
        np.savetxt(record, pred, fmt="%.6f", delimiter=",")
        np.savetxt(record.parent / f"{sequence.name}_time.txt", np.full(len(pred), 0.01), fmt="%.8f")
        stored = np.loadtxt(record, delimiter=",")
        size, cover = sequence.extra["image_size"], sequence.extra["cover"]
        ours.append(got10k_frame_ious(stored, sequence.ground_truth, size, cover))
    experiment = ExperimentGOT10k(str(root), subset="val", result_dir=str(result_dir), report_dir=str(report_dir))
    reference = experiment.report(["mine"])["mine"]["overall"]
    pooled = got10k_pooled(ours)
    assert pooled["ao"] == pytest.approx(100 * reference["ao"], abs=1e-9)
    assert pooled["sr50"] == pytest.approx(100 * reference["sr"], abs=1e-9)
    np.testing.assert_allclose(pooled["success_curve"], reference["succ_curve"], atol=1e-12)
