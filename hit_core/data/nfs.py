"""Need for Speed (NfS), 30 fps version: ``ROOT/<seq>/30/<seq>/*.jpg`` and ``ROOT/<seq>/30/<seq>.txt``.

Annotation lines are ``id xmin ymin xmax ymax frame lost occluded generated "label"``; boxes become
``x, y, w = xmax - xmin, h = ymax - ymin``. Some 30 fps annotation files were written at 240 fps
(eight times as many lines): every eighth line is kept; a remaining difference of one frame is
trimmed from the longer side, as the public toolkits do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hit_core.data.annotations import list_images, require_file
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError


def read_nfs_annotation(path: Path) -> tuple[np.ndarray, str | None]:
    """Boxes (N, 4) x, y, w, h and the object label of an NfS annotation file."""
    require_file(path, "an NfS annotation file")
    boxes = []
    label = None
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            x1, y1, x2, y2 = (float(v) for v in fields[1:5])
        except ValueError:
            raise DatasetError(f"{path}, line {number}: expected 'id xmin ymin xmax ymax ...', got {line!r}") from None
        boxes.append((x1, y1, x2 - x1, y2 - y1))
        if len(fields) > 9:
            label = fields[9].strip('"')
    if not boxes:
        raise DatasetError(f"{path} holds no boxes")
    return np.asarray(boxes, dtype=np.float64), label


def read_nfs_sequence(folder: Path) -> Sequence:
    """One NfS sequence (``folder`` = ``ROOT/<seq>``) at 30 fps."""
    name = folder.name
    anno = folder / "30" / f"{name}.txt"
    boxes, label = read_nfs_annotation(anno)
    frames = list_images(folder / "30" / name)
    if len(boxes) != len(frames) and abs(len(boxes) / len(frames) - 8) < 1:
        boxes = boxes[::8]
    if abs(len(boxes) - len(frames)) == 1:
        count = min(len(boxes), len(frames))
        boxes, frames = boxes[:count], frames[:count]
    if len(boxes) != len(frames):
        raise DatasetError(f"{anno} has {len(boxes)} boxes but {folder / '30' / name} has {len(frames)} frames")
    return Sequence(
        name=name,
        dataset="nfs",
        frames=tuple(frames),
        ground_truth=boxes,
        object_class=label,
        extra={"path": folder},
    )


def load_nfs(root: Path) -> list[Sequence]:
    """Every NfS sequence under ``root`` that has a 30 fps annotation."""
    folders = sorted(p.parent.parent for p in root.glob("*/30/*.txt") if p.stem == p.parent.parent.name)
    if not folders:
        raise DatasetError(f"no NfS sequences under {root}: expected <seq>/30/<seq>.txt and <seq>/30/<seq>/*.jpg")
    return [read_nfs_sequence(folder) for folder in folders]
