"""GOT-10k: ``ROOT/<split>/list.txt`` and ``ROOT/<split>/<GOT-10k_Split_NNNNNN>/`` holding the frames
(``00000001.jpg`` ...), ``groundtruth.txt`` (test: first frame only), ``absence.label``,
``cover.label`` (0 = absent, 1-8 = visible-ratio bins), ``cut_by_image.label`` and ``meta_info.ini``.

Splits: ``val`` (180, the default), ``test`` (180, scored by the server), ``train`` (all 9,335),
``vottrain`` / ``votval`` (train minus the VOT-overlapping videos, split 7,086 / 1,249 as in the
HiT recipe; indices into the sorted train list). ``extra["cover"]`` holds the cover labels and
``extra["image_size"]`` (width, height) the resolution from ``meta_info.ini``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from hit_core.data.annotations import (
    list_images,
    pad_ground_truth,
    read_boxes,
    read_flags,
    require_dir,
    require_file,
    split_names,
)
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

_INDEXED_SPLITS = {"vottrain": "got10k_vot_train_split.txt", "votval": "got10k_vot_val_split.txt"}


def read_meta_info(path: Path) -> dict[str, str]:
    """``key: value`` lines of a GOT-10k ``meta_info.ini`` (the section header is skipped)."""
    meta = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, separator, value = line.partition(":")
        if separator and not line.startswith("["):
            meta[key.strip()] = value.strip()
    return meta


def _sequence_names(split_dir: Path) -> list[str]:
    listed = split_dir / "list.txt"
    if listed.is_file():
        return [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir())


def _labels(path: Path, count: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    labels = read_flags(path)
    if len(labels) != count:
        raise DatasetError(f"{path} has {len(labels)} labels for {count} frames")
    return labels


def read_got10k_sequence(folder: Path, split: str) -> Sequence:
    """One GOT-10k sequence folder of ``split``."""
    require_dir(folder, f"the GOT-10k {split} sequence listed in list.txt")
    frames = list_images(folder)
    boxes = read_boxes(require_file(folder / "groundtruth.txt", f"the ground truth of {folder.name}"))
    if split == "test":
        ground_truth = pad_ground_truth(boxes, len(frames), folder / "groundtruth.txt")
    elif len(boxes) != len(frames):
        raise DatasetError(f"{folder / 'groundtruth.txt'} has {len(boxes)} boxes for {len(frames)} frames")
    else:
        ground_truth = boxes
    extra: dict = {"path": folder}
    absence = _labels(folder / "absence.label", len(frames))
    visible = None if absence is None else absence == 0
    cover = _labels(folder / "cover.label", len(frames))
    if cover is not None:
        extra["cover"] = cover
    object_class = None
    meta_file = folder / "meta_info.ini"
    if meta_file.is_file():
        meta = read_meta_info(meta_file)
        object_class = meta.get("object_class")
        if "resolution" in meta:
            try:
                extra["image_size"] = tuple(float(v) for v in ast.literal_eval(meta["resolution"]))
            except (ValueError, SyntaxError):
                raise DatasetError(f"{meta_file}: resolution {meta['resolution']!r} is not '(width, height)'") from None
    return Sequence(
        name=folder.name,
        dataset="got10k",
        frames=tuple(frames),
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        visible=visible,
        object_class=object_class,
        extra=extra,
    )


def load_got10k(root: Path, split: str | None = "val") -> list[Sequence]:
    """The GOT-10k sequences of ``split`` under ``root`` (the folder holding train/ val/ test/)."""
    split = split or "val"
    folder_split = "train" if split in _INDEXED_SPLITS else split
    split_dir = require_dir(root / folder_split, f"the GOT-10k {folder_split} folder (with list.txt)")
    names = _sequence_names(split_dir)
    if split in _INDEXED_SPLITS:
        ordered = sorted(names)
        indices = [int(i) for i in split_names(_INDEXED_SPLITS[split])]
        if max(indices) >= len(ordered):
            raise DatasetError(
                f"{split_dir} lists {len(ordered)} sequences, but the {split} split needs the full GOT-10k train "
                f"set (9,335 sequences; index {max(indices)} is out of range)"
            )
        names = [ordered[i] for i in indices]
    return [read_got10k_sequence(split_dir / name, folder_split) for name in names]
