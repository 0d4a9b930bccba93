"""LaSOT and LaSOT-extension: ``ROOT/<class>/<class>-<n>/`` with ``img/*.jpg``, ``groundtruth.txt``,
``full_occlusion.txt``, ``out_of_view.txt`` (comma-separated 0/1 per frame) and ``nlp.txt``.

LaSOT splits follow protocol II (``test``: 280 sequences, ``train``: 1,120; the lists are package
data). The class level may be left out (``ROOT/<class>-<n>/``, as some test-only downloads unpack).
LaSOT-extension has no split list: every sequence found (150 in the release) is a test sequence.
``visible`` is False where the target is fully occluded or out of view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hit_core.data.annotations import list_images, read_boxes, read_flags, require_file, split_names
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError


def _sequence_dir(root: Path, name: str) -> Path:
    class_name = name.rsplit("-", 1)[0]
    for candidate in (root / class_name / name, root / name):
        if candidate.is_dir():
            return candidate
    raise DatasetError(
        f"LaSOT sequence {name} not found: expected {root / class_name / name} (or {root / name}) "
        f"with img/ and groundtruth.txt"
    )


def _flags(path: Path, count: int) -> np.ndarray:
    flags = read_flags(path)
    if len(flags) != count:
        raise DatasetError(f"{path} has {len(flags)} flags for {count} frames")
    return flags.astype(bool)


def read_lasot_sequence(folder: Path, dataset: str) -> Sequence:
    """One LaSOT-format sequence folder."""
    name = folder.name
    ground_truth = read_boxes(require_file(folder / "groundtruth.txt", f"the ground truth of {name}"))
    frames = list_images(folder / "img")
    if len(frames) != len(ground_truth):
        raise DatasetError(
            f"{folder / 'groundtruth.txt'} has {len(ground_truth)} boxes but {folder / 'img'} has {len(frames)} frames"
        )
    occluded = _flags(require_file(folder / "full_occlusion.txt", f"the occlusion flags of {name}"), len(frames))
    out_of_view = _flags(require_file(folder / "out_of_view.txt", f"the out-of-view flags of {name}"), len(frames))
    extra: dict = {"path": folder}
    language = folder / "nlp.txt"
    if language.is_file():
        extra["language"] = language.read_text(encoding="utf-8", errors="replace").strip()
    return Sequence(
        name=name,
        dataset=dataset,
        frames=tuple(frames),
        ground_truth=ground_truth,
        visible=~(occluded | out_of_view),
        object_class=name.rsplit("-", 1)[0],
        extra=extra,
    )


def load_lasot(root: Path, split: str | None = "test") -> list[Sequence]:
    """The LaSOT ``test`` (280) or ``train`` (1,120) sequences under ``root``, sorted by name."""
    names = split_names(f"lasot_{split or 'test'}_split.txt")
    return [read_lasot_sequence(_sequence_dir(root, name), "lasot") for name in sorted(names)]


def load_lasot_ext(root: Path) -> list[Sequence]:
    """Every LaSOT-extension sequence (``<class>/<class>-<n>`` folders) under ``root``."""
    folders = sorted(
        {p.parent for p in root.glob("*/groundtruth.txt")} | {p.parent for p in root.glob("*/*/groundtruth.txt")},
        key=lambda p: p.name,
    )
    if not folders:
        raise DatasetError(f"no LaSOT-extension sequences under {root}: expected <class>/<class>-<n>/groundtruth.txt")
    return [read_lasot_sequence(folder, "lasot_ext") for folder in folders]
