"""OTB-100 (OTB2015): ``ROOT/<Sequence>/img/*.jpg`` and ``groundtruth_rect[.<k>].txt``.

Known quirks, as the benchmark's own configuration defines them: David is annotated on frames
300-770 only, Football1, Freeman3, Freeman4 and Diving end before their last image; Jogging and
Skating2 have two targets (``groundtruth_rect.1.txt`` / ``.2.txt``), read as ``Jogging-1`` and
``Jogging-2``; Human4 ships only ``groundtruth_rect.2.txt`` (the ``.1`` file, where present, is
empty). An optional ``attrs.txt`` (comma-separated attribute names) is read.
"""

from __future__ import annotations

import re
from pathlib import Path

from hit_core.data.annotations import list_images, read_boxes
from hit_core.data.folder import read_attribute_file
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

# 1-based, inclusive frame numbers of the annotated part where it is not the whole image folder
FRAME_RANGES = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
}
_GROUND_TRUTH = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")


def _annotation_files(folder: Path) -> list[tuple[str | None, Path]]:
    found = []
    for path in folder.iterdir():
        match = _GROUND_TRUTH.match(path.name)
        if match and path.is_file() and path.read_text(encoding="utf-8", errors="replace").strip():
            found.append((match.group(1), path))
    return sorted(found, key=lambda item: int(item[0] or 0))


def _frames(folder: Path, name: str, count: int, annotation: Path) -> tuple[Path, ...]:
    images = list_images(folder / "img")
    if name in FRAME_RANGES:
        first, last = FRAME_RANGES[name]
        numbered = {int(p.stem): p for p in images if p.stem.isdigit()}
        missing = [n for n in (first, last) if n not in numbered]
        if missing:
            raise DatasetError(
                f"OTB {name}: expected frames {first}..{last} in {folder / 'img'}; frame {missing[0]} is missing"
            )
        images = [numbered[n] for n in range(first, last + 1) if n in numbered]
    if len(images) != count:
        raise DatasetError(f"{annotation} has {count} boxes but {folder / 'img'} has {len(images)} frames to match")
    return tuple(images)


def load_otb(root: Path) -> list[Sequence]:
    """Every OTB sequence folder under ``root`` (a folder holding one folder per sequence)."""
    sequences = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        annotations = _annotation_files(folder)
        if not annotations:
            continue
        attributes = read_attribute_file(folder / "attrs.txt")
        for index, path in annotations:
            name = folder.name if len(annotations) == 1 else f"{folder.name}-{index}"
            boxes = read_boxes(path)
            sequences.append(
                Sequence(
                    name=name,
                    dataset="otb",
                    frames=_frames(folder, folder.name, len(boxes), path),
                    ground_truth=boxes,
                    attributes=attributes,
                    extra={"path": folder},
                )
            )
    if not sequences:
        raise DatasetError(
            f"no OTB sequences under {root}: expected <Sequence>/img/*.jpg and <Sequence>/groundtruth_rect.txt"
        )
    return sequences
