"""UAV123 and UAV123@10fps: ``ROOT/anno/<V>/<seq>.txt`` and ``ROOT/data_seq/<V>/<folder>/%06d.jpg``
with ``<V>`` = ``UAV123`` or ``UAV123_10fps``; optional ``ROOT/anno/<V>/att/<seq>.txt`` (12 comma-
separated 0/1 attribute flags in the benchmark's order).

Several sequences are parts of one long video (``bird1_1`` .. ``bird1_3`` share ``bird1/``); the
frame range of each comes from the benchmark configuration (package data ``uav123_frames.json``).
UAV123@10fps keeps every third frame, so its ranges start at ``(first - 1) / 3 + 1`` and run for
as many frames as the annotation has lines. Absent targets are NaN rows in the annotation.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from hit_core.data.annotations import read_boxes, read_flags, require_dir, require_file
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

ATTRIBUTES = ("SV", "ARC", "LR", "FM", "FOC", "POC", "OV", "BC", "IV", "VC", "CM", "SOB")


def frame_ranges() -> dict[str, tuple[str, int, int]]:
    """``{sequence: (frame folder, first frame, last frame)}`` of UAV123 at 30 fps (1-based, inclusive)."""
    text = resources.files("hit_core.data").joinpath("splits", "uav123_frames.json").read_text(encoding="utf-8")
    return {name: (folder, int(first), int(last)) for name, (folder, first, last) in json.loads(text).items()}


def _attributes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    flags = read_flags(path)
    if len(flags) != len(ATTRIBUTES):
        raise DatasetError(
            f"{path} has {len(flags)} attribute flags; expected {len(ATTRIBUTES)} ({', '.join(ATTRIBUTES)})"
        )
    return tuple(name for name, flag in zip(ATTRIBUTES, flags, strict=True) if flag)


def _load(root: Path, version: str, step: int) -> list[Sequence]:
    anno_dir = require_dir(root / "anno" / version, f"the {version} annotations (anno/{version}/<seq>.txt)")
    frames_root = require_dir(root / "data_seq" / version, f"the {version} frames (data_seq/{version}/<folder>/)")
    sequences = []
    for name, (folder, first, last) in frame_ranges().items():
        anno = require_file(anno_dir / f"{name}.txt", f"the annotation of {version} sequence {name}")
        boxes = read_boxes(anno)
        start = (first - 1) // step + 1
        count = len(boxes) if step > 1 else last - first + 1
        if len(boxes) != count:
            raise DatasetError(f"{anno} has {len(boxes)} boxes; the benchmark defines frames {first}..{last} ({count})")
        frame_dir = frames_root / folder
        frames = tuple(frame_dir / f"{number:06d}.jpg" for number in range(start, start + count))
        for frame in (frames[0], frames[-1]):
            require_file(frame, f"frame {frame.stem} of {version} sequence {name}")
        sequences.append(
            Sequence(
                name=name,
                dataset=version.lower(),
                frames=frames,
                ground_truth=np.asarray(boxes, dtype=np.float64),
                attributes=_attributes(anno_dir / "att" / f"{name}.txt"),
                extra={"path": frame_dir},
            )
        )
    return sequences


def load_uav123(root: Path) -> list[Sequence]:
    """The 123 UAV123 sequences (30 fps)."""
    return _load(root, "UAV123", 1)


def load_uav123_10fps(root: Path) -> list[Sequence]:
    """The 123 UAV123@10fps sequences."""
    return _load(root, "UAV123_10fps", 3)
