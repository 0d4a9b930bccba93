"""``hit track`` on an image folder and a video file: outputs, initial-box sources and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from hit_core.cli import main

FRAMES = 5


@pytest.fixture(scope="module")
def short_sequence(data_dir: Path, tmp_path_factory) -> Path:
    """The first frames of OTB100/Crossing in the dataset layout: <seq>/img/*.jpg + <seq>/groundtruth.txt."""
    source = data_dir / "OTB100" / "Crossing"
    target = tmp_path_factory.mktemp("sequence") / "Crossing"
    (target / "img").mkdir(parents=True)
    for path in sorted((source / "img").glob("*.jpg"))[:FRAMES]:
        shutil.copy(path, target / "img" / path.name)
    lines = (source / "groundtruth.txt").read_text().splitlines()[:FRAMES]
    (target / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return target


def _track(*arguments: str, checkpoint: Path) -> int:
    return main(["track", *arguments, "--backend", "torch", "--checkpoint", str(checkpoint), "--threads", "1"])


def _boxes(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_image_folder_with_ground_truth_beside_it(short_sequence, fixture_checkpoint, tmp_path, capsys):
    output = tmp_path / "out"
    assert _track(str(short_sequence / "img"), "--output", str(output), checkpoint=fixture_checkpoint("tiny")) == 0
    boxes = _boxes(output / "Crossing_boxes.txt")
    assert boxes.shape == (FRAMES, 5)
    np.testing.assert_array_equal(boxes[0], [205, 151, 17, 50, 1])
    assert ((boxes[1:, 4] >= 0) & (boxes[1:, 4] <= 1)).all()
    video = cv2.VideoCapture(str(output / "Crossing.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (360, 240)
    video.release()
    assert "tracked 5 frames with HiT-tiny on torch" in capsys.readouterr().out


def test_video_file_with_box_and_frame_limit(short_sequence, fixture_checkpoint, tmp_path):
    video_path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (360, 240))
    for path in sorted((short_sequence / "img").glob("*.jpg")):
        writer.write(cv2.imread(str(path)))
    writer.release()
    output = tmp_path / "out"
    arguments = (str(video_path), "--box", "200,150,20,48", "--max-frames", "3", "--no-video", "--output", str(output))
    assert _track(*arguments, checkpoint=fixture_checkpoint("tiny")) == 0
    boxes = _boxes(output / "clip_boxes.txt")
    assert boxes.shape == (3, 5)
    np.testing.assert_array_equal(boxes[0], [200, 150, 20, 48, 1])
    assert not (output / "clip.mp4").exists()


def test_explicit_ground_truth_file(short_sequence, fixture_checkpoint, tmp_path):
    gt = tmp_path / "start.txt"
    gt.write_text("\n100\t120\t30\t40\n")
    output = tmp_path / "out"
    arguments = (str(short_sequence / "img"), "--gt", str(gt), "--max-frames", "2", "--no-video", "--output", str(output))
    assert _track(*arguments, checkpoint=fixture_checkpoint("tiny")) == 0
    np.testing.assert_array_equal(_boxes(output / "Crossing_boxes.txt")[0], [100, 120, 30, 40, 1])


def test_errors_are_one_clean_line(short_sequence, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for arguments, message in [
        ([str(tmp_path / "missing.mp4")], "neither a file, a folder nor a camera index"),
        ([str(empty)], "no images"),
        (["97", "--box", "1,2,3,4"], "cannot open '97'"),
        ([str(short_sequence / "img"), "--box", "400,10,20,20"], "entirely outside"),
        ([str(short_sequence / "img"), "--max-frames", "0"], "--max-frames must be at least 1"),
    ]:
        assert main(["track", *arguments, "--backend", "torch", "--output", str(tmp_path / "o")]) == 1
        error = capsys.readouterr().err
        assert error.startswith("hit track: error: ") and message in error, error
        assert "Traceback" not in error


def test_malformed_box_is_an_argument_error(short_sequence, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["track", str(short_sequence / "img"), "--box", "1,2,3"])
    assert exit_info.value.code == 2
    assert "expected x,y,w,h" in capsys.readouterr().err
