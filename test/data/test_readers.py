"""Dataset readers on the shared real sequences and on tiny on-disk copies of each benchmark's layout.

Readers never decode images, so the synthetic layouts use empty ``.jpg`` files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hit_core.data import dataset_names, load_dataset
from hit_core.data.annotations import read_boxes, split_names
from hit_core.data.uav123 import frame_ranges
from hit_core.errors import DatasetError


def _frames(folder: Path, count: int, pattern: str = "{:08d}.jpg", start: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(start, start + count):
        (folder / pattern.format(number)).touch()


def _boxes(path: Path, count: int, separator: str = ",", first: tuple = (10, 20, 30, 40)) -> None:
    """``count`` lines; line i holds ``first + i`` (every value shifted by the line index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [separator.join(str(v + i) for v in first) for i in range(count)]
    path.write_text("\n".join(rows) + "\n")


def _constant_boxes(path: Path, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("10,20,30,40\n" * count)


def test_registry_names() -> None:
    assert dataset_names() == sorted(
        ["folder", "otb", "lasot", "lasot_ext", "got10k", "trackingnet", "uav123", "uav123_10fps", "nfs"]
    )


def test_folder_reads_the_shared_sequences(data_dir: Path) -> None:
    sequences = load_dataset("folder", data_dir)
    by_name = {s.name: s for s in sequences}
    assert len(sequences) == 9
    assert by_name["OTB100/Car4"].frames[0].name == "0001.jpg" and len(by_name["OTB100/Car4"]) == 659
    assert by_name["OTB100/Couple"].attributes == ("SV", "DEF", "FM", "OPR", "BC")
    assert "occlusion" not in by_name["VOT/bag"].attributes  # its tag file has no set frame
    assert "camera_motion" in by_name["VOT/bag"].attributes
    np.testing.assert_allclose(by_name["VOT/bag"].ground_truth[0], [293.23, 129.36, 145.96, 132.47])
    assert by_name["LaSOT/airplane-1_first600"].extra["language"] == "white airplane landing on ground"
    assert by_name["OTB100/Dog"].frame(0).shape == (240, 352, 3)
    assert all(s.dataset == "folder" and len(s.frames) == len(s.ground_truth) for s in sequences)


def test_folder_root_may_be_one_or_two_levels_above_or_a_sequence(data_dir: Path) -> None:
    assert [s.name for s in load_dataset("folder", data_dir / "VOT")] == ["bag"]
    assert [s.name for s in load_dataset("folder", data_dir / "VOT" / "bag")] == ["bag"]


def test_folder_errors_name_the_file(tmp_path: Path) -> None:
    _frames(tmp_path / "seq" / "img", 3)
    _boxes(tmp_path / "seq" / "groundtruth.txt", 2)
    with pytest.raises(DatasetError, match="has 2 boxes but .* has 3 frames"):
        load_dataset("folder", tmp_path)
    (tmp_path / "seq" / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n5,6,7,8\n")
    with pytest.raises(DatasetError, match="groundtruth.txt, box 2: expected 4 numbers"):
        load_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="no sequences under"):
        load_dataset("folder", tmp_path / "seq" / "img")
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset("folder", tmp_path / "missing")
    with pytest.raises(DatasetError, match="unknown dataset 'vot'"):
        load_dataset("vot", tmp_path)


def test_box_parser_accepts_every_separator_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n9 10  11 12\nNaN,NaN,NaN,NaN\n\n")
    boxes = read_boxes(path)
    assert boxes.shape == (4, 4)
    np.testing.assert_array_equal(boxes[:3].ravel(), np.arange(1, 13))
    assert np.isnan(boxes[3]).all()


def test_otb_quirks(tmp_path: Path) -> None:
    _frames(tmp_path / "David" / "img", 775, "{:04d}.jpg")
    _boxes(tmp_path / "David" / "groundtruth_rect.txt", 471)  # frames 300..770
    _frames(tmp_path / "Jogging" / "img", 5, "{:04d}.jpg")
    _boxes(tmp_path / "Jogging" / "groundtruth_rect.1.txt", 5)
    _boxes(tmp_path / "Jogging" / "groundtruth_rect.2.txt", 5, "\t", first=(100, 100, 10, 10))
    _frames(tmp_path / "Human4" / "img", 4, "{:04d}.jpg")
    (tmp_path / "Human4" / "groundtruth_rect.1.txt").write_text("\n")
    _boxes(tmp_path / "Human4" / "groundtruth_rect.2.txt", 4, " ")
    sequences = {s.name: s for s in load_dataset("otb", tmp_path)}
    assert sorted(sequences) == ["David", "Human4", "Jogging-1", "Jogging-2"]
    assert sequences["David"].frames[0].name == "0300.jpg" and sequences["David"].frames[-1].name == "0770.jpg"
    assert sequences["Jogging-2"].ground_truth[0].tolist() == [100, 100, 10, 10]
    (tmp_path / "David" / "img" / "0770.jpg").unlink()
    with pytest.raises(DatasetError, match="frame 770 is missing"):
        load_dataset("otb", tmp_path)


def _lasot_sequence(folder: Path, frames: int = 3) -> None:
    _frames(folder / "img", frames)
    _boxes(folder / "groundtruth.txt", frames)
    (folder / "full_occlusion.txt").write_text(",".join(["0"] * (frames - 1) + ["1"]))
    (folder / "out_of_view.txt").write_text(",".join(["0"] * frames))
    (folder / "nlp.txt").write_text("a target")


def test_lasot_test_split_and_visibility(tmp_path: Path) -> None:
    names = split_names("lasot_test_split.txt")
    assert len(names) == 280 and not set(names) & set(split_names("lasot_train_split.txt"))
    for name in names:
        _lasot_sequence(tmp_path / name.rsplit("-", 1)[0] / name)
    sequences = load_dataset("lasot", tmp_path)
    assert len(sequences) == 280
    first = sequences[0]
    assert first.visible.tolist() == [True, True, False]
    assert first.object_class == first.name.rsplit("-", 1)[0]
    missing = tmp_path / "zebra" / "zebra-10"
    for path in sorted(missing.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    missing.rmdir()
    with pytest.raises(DatasetError, match="zebra-10 not found: expected .*zebra/zebra-10"):
        load_dataset("lasot", tmp_path)
    with pytest.raises(DatasetError, match="no split 'val'"):
        load_dataset("lasot", tmp_path, "val")


def test_lasot_ext_finds_every_sequence(tmp_path: Path) -> None:
    _lasot_sequence(tmp_path / "atv" / "atv-1")
    _lasot_sequence(tmp_path / "wingsuit" / "wingsuit-3", 4)
    sequences = load_dataset("lasot_ext", tmp_path)
    assert [s.name for s in sequences] == ["atv-1", "wingsuit-3"]
    assert sequences[1].dataset == "lasot_ext" and len(sequences[1]) == 4
    (tmp_path / "atv" / "atv-1" / "out_of_view.txt").unlink()
    with pytest.raises(DatasetError, match="out-of-view flags of atv-1 at .*out_of_view.txt"):
        load_dataset("lasot_ext", tmp_path)


def _got10k_sequence(folder: Path, frames: int, boxes: int) -> None:
    _frames(folder, frames)
    _boxes(folder / "groundtruth.txt", boxes)
    (folder / "absence.label").write_text("\n".join(["0"] * (frames - 1) + ["1"]) + "\n")
    (folder / "cover.label").write_text("\n".join(["8"] * (frames - 1) + ["0"]) + "\n")
    (folder / "cut_by_image.label").write_text("\n".join(["0"] * frames) + "\n")
    (folder / "meta_info.ini").write_text("[METAINFO]\nobject_class: ant\nresolution: (640, 360)\n")


def test_got10k_val_and_test(tmp_path: Path) -> None:
    for split, boxes in (("val", 4), ("test", 1)):
        names = [f"GOT-10k_{split.title()}_{i:06d}" for i in (1, 2)]
        (tmp_path / split).mkdir()
        (tmp_path / split / "list.txt").write_text("\n".join(names) + "\n")
        for name in names:
            _got10k_sequence(tmp_path / split / name, 4, boxes)
    val = load_dataset("got10k", tmp_path)
    assert [s.name for s in val] == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    assert val[0].visible.tolist() == [True, True, True, False]
    assert val[0].extra["cover"].tolist() == [8, 8, 8, 0]
    assert val[0].extra["image_size"] == (640.0, 360.0) and val[0].object_class == "ant"
    test = load_dataset("got10k", tmp_path, "test")
    assert np.isfinite(test[0].ground_truth[0]).all() and np.isnan(test[0].ground_truth[1:]).all()
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "list.txt").write_text("GOT-10k_Train_000001\n")
    with pytest.raises(DatasetError, match="needs the full GOT-10k train set"):
        load_dataset("got10k", tmp_path, "vottrain")


def test_trackingnet_sorts_frames_numerically(tmp_path: Path) -> None:
    _frames(tmp_path / "TEST" / "frames" / "abc", 12, "{}.jpg", start=0)
    _boxes(tmp_path / "TEST" / "anno" / "abc.txt", 1)
    _frames(tmp_path / "TRAIN_3" / "frames" / "xyz", 2, "{}.jpg", start=0)
    _boxes(tmp_path / "TRAIN_3" / "anno" / "xyz.txt", 2)
    (sequence,) = load_dataset("trackingnet", tmp_path)
    assert [f.stem for f in sequence.frames] == [str(i) for i in range(12)]
    assert np.isnan(sequence.ground_truth[1:]).all()
    (train,) = load_dataset("trackingnet", tmp_path, "train")
    assert train.name == "xyz" and train.extra["chunk"] == "TRAIN_3"


def test_uav123_frame_ranges_and_10fps(tmp_path: Path) -> None:
    ranges = frame_ranges()
    assert len(ranges) == 123 and ranges["bird1_2"] == ("bird1", 775, 1477)
    for version, step in (("UAV123", 1), ("UAV123_10fps", 3)):
        for name, (folder, first, last) in ranges.items():
            count = last - first + 1 if step == 1 else 5
            _constant_boxes(tmp_path / version / "anno" / version / f"{name}.txt", count)
            start = (first - 1) // step + 1
            for number in (start, start + count - 1):
                _frames(tmp_path / version / "data_seq" / version / folder, 1, "{:06d}.jpg", number)
    (tmp_path / "UAV123" / "anno" / "UAV123" / "att").mkdir()
    (tmp_path / "UAV123" / "anno" / "UAV123" / "att" / "bird1_2.txt").write_text("1,0,0,1,0,0,0,0,0,0,1,0\n")
    uav = {s.name: s for s in load_dataset("uav123", tmp_path / "UAV123")}
    assert uav["bird1_2"].frames[0].name == "000775.jpg" and len(uav["bird1_2"]) == 703
    assert uav["bird1_2"].attributes == ("SV", "FM", "CM")
    slow = {s.name: s for s in load_dataset("uav123_10fps", tmp_path / "UAV123_10fps")}
    assert slow["bird1_2"].frames[0].name == "000259.jpg" and len(slow["bird1_2"]) == 5
    (tmp_path / "UAV123" / "anno" / "UAV123" / "car1_1.txt").unlink()
    with pytest.raises(DatasetError, match="annotation of UAV123 sequence car1_1 at .*car1_1.txt"):
        load_dataset("uav123", tmp_path / "UAV123")


def test_nfs_corners_and_240fps_annotation(tmp_path: Path) -> None:
    _frames(tmp_path / "Bolt" / "30" / "Bolt", 3, "{:05d}.jpg")
    lines = [f'1 {10 + i} 20 {40 + i} 60 {i + 1} 0 0 0 "person"' for i in range(24)]
    (tmp_path / "Bolt" / "30" / "Bolt.txt").write_text("\n".join(lines) + "\n")
    (sequence,) = load_dataset("nfs", tmp_path)
    assert sequence.ground_truth.tolist() == [[10, 20, 30, 40], [18, 20, 30, 40], [26, 20, 30, 40]]
    assert sequence.object_class == "person"


def test_split_files_are_package_data() -> None:
    assert len(split_names("got10k_vot_train_split.txt")) == 7086
    assert len(split_names("got10k_vot_val_split.txt")) == 1249
    assert len(split_names("lasot_train_split.txt")) == 1120
