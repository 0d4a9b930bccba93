"""Parsing of the small text files that tracking datasets ship (boxes, flags, tags).

Every dataset writes its boxes a little differently (commas, tabs, spaces, ``NaN``
for unannotated frames, a trailing empty line); one tolerant parser reads them all
and says which file and line were wrong when one is not a box file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from hit_core.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_TO_SPACES = str.maketrans({",": " ", ";": " ", "\t": " ", "\r": " "})


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise a DatasetError naming what was expected there."""
    if not path.is_file():
        raise DatasetError(f"expected {what} at {path}, but there is no such file")
    return path


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else raise a DatasetError naming what was expected there."""
    if not path.is_dir():
        raise DatasetError(f"expected {what} at {path}, but there is no such folder")
    return path


def read_boxes(path: str | Path, columns: int = 4) -> np.ndarray:
    """Read one box per non-empty line as an (N, columns) float64 array.

    Values may be separated by commas, semicolons, tabs or spaces; ``nan``/``NaN``
    is kept as NaN (unannotated frames). Coordinates are returned unchanged.
    """
    path = Path(path)
    require_file(path, "an annotation file")
    text = path.read_text(encoding="utf-8", errors="replace").translate(_TO_SPACES)
    rows = [fields for fields in (line.split() for line in text.split("\n")) if fields]
    if not rows:
        raise DatasetError(f"{path} holds no boxes; expected one 'x,y,w,h' line per frame")
    for number, fields in enumerate(rows, start=1):
        if len(fields) != columns:
            raise DatasetError(
                f"{path}, box {number}: expected {columns} numbers (x, y, w, h), "
                f"found {len(fields)}: {' '.join(fields)!r}"
            )
    try:
        return np.array(text.split(), dtype=np.float64).reshape(len(rows), columns)
    except ValueError:
        bad = next(fields for fields in rows if not _all_numbers(fields))
        raise DatasetError(f"{path}: not a number in box {' '.join(bad)!r}") from None


def _all_numbers(fields: list[str]) -> bool:
    try:
        [float(value) for value in fields]
    except ValueError:
        return False
    return True


def read_flags(path: str | Path) -> np.ndarray:
    """Read 0/1 (or small integer) per-frame labels, one per line or comma-separated on one line."""
    path = Path(path)
    require_file(path, "a per-frame label file")
    values = path.read_text(encoding="utf-8", errors="replace").translate(_TO_SPACES).split()
    try:
        return np.array(values, dtype=np.float64).astype(np.int64)
    except ValueError:
        raise DatasetError(f"{path}: expected integer labels separated by commas or new lines") from None


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by file name (numeric names sort numerically)."""
    require_dir(folder, "a folder of frames")
    images = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if images and all(p.stem.isdigit() for p in images):
        images.sort(key=lambda p: (int(p.stem), p.name))
    else:
        images.sort(key=lambda p: p.name)
    if not images:
        raise DatasetError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    return images


def pad_ground_truth(boxes: np.ndarray, frame_count: int, source: Path) -> np.ndarray:
    """Extend a shorter annotation (e.g. first frame only) with NaN rows to ``frame_count`` rows."""
    if len(boxes) > frame_count:
        raise DatasetError(f"{source} has {len(boxes)} boxes but the sequence has only {frame_count} frames")
    if len(boxes) == frame_count:
        return boxes
    padded = np.full((frame_count, boxes.shape[1]), np.nan)
    padded[: len(boxes)] = boxes
    return padded


def split_names(file_name: str) -> list[str]:
    """Entries (sequence names or indices) listed one per line in a split file of this package."""
    text = resources.files("hit_core.data").joinpath("splits", file_name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]
