"""``hit eval`` end to end on short real sequences: raw results, results.json, tables, plots, packaging."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from hit_core.cli import main
from hit_core.errors import ConfigError
from hit_core.eval.roots import read_roots_file, resolve_dataset_root

SEQUENCE_KEYS = {"auc", "precision", "norm_precision", "op50", "op75", "fps", "frames"}


def _short_copy(source: Path, target: Path, frames: int) -> None:
    """``target`` in the folder format with the first ``frames`` frames of ``source`` (symlinked)."""
    (target / "img").mkdir(parents=True)
    for frame in sorted((source / "img").iterdir())[:frames]:
        (target / "img" / frame.name).symlink_to(frame)
    lines = (source / "groundtruth.txt").read_text().splitlines()[:frames]
    (target / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    for extra in ("attrs.txt",):
        if (source / extra).exists():
            (target / extra).write_text((source / extra).read_text())


@pytest.fixture(scope="module")
def mini_root(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini")
    _short_copy(data_dir / "OTB100" / "Crossing", root / "otb" / "Crossing", 30)
    _short_copy(data_dir / "OTB100" / "Dog", root / "otb" / "Dog", 20)
    return root


def test_eval_two_trackers_writes_results_tables_and_plots(
    mini_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "out"
    args = ["eval", "--dataset", "folder", "--root", str(mini_root), "--output", str(output), "--no-progress"]
    assert main([*args, "--tracker", "csrt"]) == 0
    assert main([*args, "--tracker", "kcf"]) == 0
    printed = capsys.readouterr().out
    assert "kcf: tracked 2, already finished 0" in printed and "csrt: auc" in printed

    results = json.loads((output / "results.json").read_text())
    assert results["dataset"] == "folder" and results["metric_mode"] == "stark"
    assert set(results["trackers"]) == {"csrt", "kcf"}
    for tracker in results["trackers"].values():
        assert set(tracker["sequences"]) == {"otb/Crossing", "otb/Dog"}
        for values in tracker["sequences"].values():
            assert set(values) == SEQUENCE_KEYS
            assert 0.0 <= values["auc"] <= 100 * 20 / 21 + 1e-9
        mean = tracker["mean"]
        assert mean["frames"] == 50 and mean["sequences"] == 2
        expected = (tracker["sequences"]["otb/Crossing"]["auc"] + tracker["sequences"]["otb/Dog"]["auc"]) / 2
        assert mean["auc"] == pytest.approx(expected, abs=1e-3)

    report = (output / "report.md").read_text()
    assert "| csrt |" in report and "| kcf |" in report and "AUC (%) per attribute" in report
    rows = list(csv.DictReader((output / "report.csv").open()))
    assert {(r["tracker"], r["sequence"]) for r in rows} >= {("csrt", "MEAN"), ("kcf", "otb/Dog")}
    for plot in ("success", "precision", "norm_precision"):
        assert (output / "plots" / f"{plot}.png").stat().st_size > 1000
    assert (output / "plots" / "attributes" / "SV_success.png").is_file()

    # a third call only scores: nothing is tracked again
    assert main([*args, "--tracker", "kcf", "--report-only"]) == 0
    assert "tracked" not in capsys.readouterr().out


def test_eval_errors_are_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.delenv("HIT_DATASET_LASOT", raising=False)
    monkeypatch.delenv("HIT_DATASETS_FILE", raising=False)
    assert main(["eval", "--dataset", "lasot", "--tracker", "csrt", "--output", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "no folder given for dataset lasot: pass --root PATH, set HIT_DATASET_LASOT" in error
    assert len(error.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["eval", "--dataset", "lasott", "--output", str(tmp_path)])
    assert "did you mean lasot?" in capsys.readouterr().err


def test_sequence_selection_suggests_names(mini_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["eval", "--dataset", "folder", "--root", str(mini_root), "--output", str(tmp_path), "--tracker", "kcf"]
    assert main([*args, "--sequences", "otb/Crossin"]) == 1
    assert "did you mean otb/Crossing?" in capsys.readouterr().err


def test_dataset_roots_from_option_environment_and_yaml(tmp_path: Path) -> None:
    roots_file = tmp_path / "datasets.yaml"
    roots_file.write_text("lasot: data/LaSOT\ngot10k: /data/GOT-10k\n")
    assert resolve_dataset_root("lasot", "/given", {}) == Path("/given")
    assert resolve_dataset_root("lasot", None, {"HIT_DATASET_LASOT": "/env"}, roots_file) == Path("/env")
    assert resolve_dataset_root("lasot", None, {}, roots_file) == tmp_path / "data" / "LaSOT"
    assert resolve_dataset_root("got10k", None, {"HIT_DATASETS_FILE": str(roots_file)}) == Path("/data/GOT-10k")
    roots_file.write_text("lasott: /x\n")
    with pytest.raises(ConfigError, match="unknown dataset 'lasott' \\(did you mean lasot\\?\\)"):
        read_roots_file(roots_file)


def _got10k_layout(root: Path, split: str, source: Path, frames: int, full_ground_truth: bool) -> list[str]:
    """A GOT-10k ``split`` folder of two sequences made of ``source``'s frames (symlinked)."""
    names = [f"GOT-10k_{split.title()}_{i:06d}" for i in (1, 2)]
    (root / split).mkdir(parents=True)
    (root / split / "list.txt").write_text("\n".join(names) + "\n")
    lines = (source / "groundtruth.txt").read_text().splitlines()[:frames]
    for name in names:
        folder = root / split / name
        folder.mkdir()
        for index, frame in enumerate(sorted((source / "img").iterdir())[:frames], start=1):
            (folder / f"{index:08d}.jpg").symlink_to(frame)
        (folder / "groundtruth.txt").write_text("\n".join(lines if full_ground_truth else lines[:1]) + "\n")
        if full_ground_truth:
            (folder / "cover.label").write_text("8\n" * frames)
            (folder / "absence.label").write_text("0\n" * frames)
            (folder / "meta_info.ini").write_text("[METAINFO]\nresolution: (360, 240)\n")
    return names


def test_got10k_val_reports_pooled_ao(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "GOT-10k"
    _got10k_layout(root, "val", data_dir / "OTB100" / "Crossing", 15, full_ground_truth=True)
    output = tmp_path / "out"
    args = ["eval", "--dataset", "got10k_val", "--root", str(root), "--tracker", "kcf", "--output", str(output)]
    assert main([*args, "--no-progress"]) == 0
    entry = json.loads((output / "results.json").read_text())["trackers"]["kcf"]
    assert 0.0 < entry["got10k"]["ao"] <= 100.0 and 0.0 <= entry["got10k"]["sr75"] <= entry["got10k"]["sr50"]
    assert entry["mean"]["auc"] is not None
    assert "GOT-10k protocol" in (output / "report.md").read_text()


def test_got10k_test_results_are_packaged_for_the_server(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "GOT-10k"
    names = _got10k_layout(root, "test", data_dir / "OTB100" / "Crossing", 15, full_ground_truth=False)
    output = tmp_path / "out"
    args = ["eval", "--dataset", "got10k_test", "--root", str(root), "--tracker", "kcf", "--output", str(output)]
    assert main([*args, "--no-progress"]) == 0
    results = json.loads((output / "results.json").read_text())
    assert results["trackers"]["kcf"]["mean"]["auc"] is None and results["trackers"]["kcf"]["mean"]["frames"] == 30
    with zipfile.ZipFile(output / "submissions" / "kcf_got10k.zip") as archive:
        listed = sorted(archive.namelist())
        first = archive.read(f"{names[0]}/{names[0]}_001.txt").decode().splitlines()
    assert listed == sorted(f"{n}/{n}_{suffix}.txt" for n in names for suffix in ("001", "time"))
    assert len(first) == 15 and first[0] == "205.000,151.000,17.000,50.000"


def test_trackingnet_package_and_unfinished_results(mini_root: Path, tmp_path: Path) -> None:
    from hit_core.data import load_dataset
    from hit_core.errors import DatasetError
    from hit_core.eval.runner import run_tracker
    from hit_core.eval.submission import package_submission
    from hit_core.eval.trackers import TrackerSpec

    sequences = load_dataset("folder", mini_root / "otb")
    summary = run_tracker(TrackerSpec("kcf"), sequences[1:], tmp_path, dataset="folder", progress=False)
    with pytest.raises(DatasetError, match="1 of 2 sequences are not finished \\(first: Crossing\\)"):
        package_submission("trackingnet", sequences, summary.tracker_dir, tmp_path / "tn.zip")
    archive_path = package_submission("trackingnet", sequences[1:], summary.tracker_dir, tmp_path / "tn.zip")
    with zipfile.ZipFile(archive_path) as archive:
        assert archive.namelist() == ["Dog.txt"]
        assert len(archive.read("Dog.txt").decode().splitlines()) == 20


def test_hit_tracker_runs_through_the_same_runner(mini_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    args = ["eval", "--dataset", "folder", "--root", str(mini_root / "otb" / "Dog"), "--output", str(output)]
    assert main([*args, "--tracker", "hit", "--backend", "onnxruntime", "--no-progress"]) == 0
    entry = json.loads((output / "results.json").read_text())["trackers"]["hit_tiny"]
    assert entry["info"]["identity"]["backend"] == "onnxruntime" and entry["mean"]["frames"] == 20
    assert (output / "hit_tiny" / "Dog.txt").read_text().count("\n") == 20
