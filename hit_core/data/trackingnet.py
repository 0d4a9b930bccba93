"""TrackingNet: ``ROOT/TEST/anno/<seq>.txt`` (first frame only) and ``ROOT/TEST/frames/<seq>/<n>.jpg``
(0-based numbers, sorted numerically); the training set is split into ``ROOT/TRAIN_<k>/`` chunks
(0..11) with the same layout and full annotations. Split ``test`` (511 sequences) is the default;
``train`` reads every ``TRAIN_<k>`` chunk present.
"""

from __future__ import annotations

import re
from pathlib import Path

from hit_core.data.annotations import list_images, pad_ground_truth, read_boxes, require_dir
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

_TRAIN_CHUNK = re.compile(r"^TRAIN_(\d+)$")


def _chunk_sequences(chunk: Path, split: str) -> list[Sequence]:
    anno_dir = require_dir(chunk / "anno", f"the TrackingNet annotations of {chunk.name}")
    frames_dir = require_dir(chunk / "frames", f"the TrackingNet frames of {chunk.name}")
    sequences = []
    for anno in sorted(anno_dir.glob("*.txt")):
        frames = list_images(frames_dir / anno.stem)
        boxes = read_boxes(anno)
        if split == "test":
            ground_truth = pad_ground_truth(boxes, len(frames), anno)
        elif len(boxes) != len(frames):
            raise DatasetError(f"{anno} has {len(boxes)} boxes but {frames_dir / anno.stem} has {len(frames)} frames")
        else:
            ground_truth = boxes
        sequences.append(
            Sequence(
                name=anno.stem,
                dataset="trackingnet",
                frames=tuple(frames),
                ground_truth=ground_truth,
                extra={"path": frames_dir / anno.stem, "chunk": chunk.name},
            )
        )
    return sequences


def load_trackingnet(root: Path, split: str | None = "test") -> list[Sequence]:
    """TrackingNet ``test`` (``ROOT/TEST``) or ``train`` (every ``ROOT/TRAIN_<k>``) sequences."""
    if (split or "test") == "test":
        return _chunk_sequences(require_dir(root / "TEST", "the TrackingNet TEST folder"), "test")
    chunks = sorted((p for p in root.iterdir() if _TRAIN_CHUNK.match(p.name)), key=lambda p: int(p.name[6:]))
    if not chunks:
        raise DatasetError(f"no TrackingNet training chunks under {root}: expected {root / 'TRAIN_0'} ...")
    return [sequence for chunk in chunks for sequence in _chunk_sequences(chunk, "train")]
