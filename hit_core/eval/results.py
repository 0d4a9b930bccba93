"""Raw per-sequence result files, written so that a partial file is never taken as finished.

Layout, per tracker folder: ``<sequence>.txt`` with one ``x,y,w,h`` line per frame (pixels,
3 decimals, first line = the initial box) and ``<sequence>_time.txt`` with the tracker's
seconds per frame (frame 0 = initialisation). Sequence names containing ``/`` (folder
datasets) become sub-folders. Both files are written to a temporary name and renamed, the
box file last, so a sequence is finished exactly when its box file exists.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hit_core.errors import DatasetError

BOX_FORMAT = "%.3f"
TIME_FORMAT = "%.6f"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def box_path(tracker_dir: Path, sequence: str) -> Path:
    return tracker_dir / f"{sequence}.txt"


def time_path(tracker_dir: Path, sequence: str) -> Path:
    return tracker_dir / f"{sequence}_time.txt"


def format_boxes(boxes: np.ndarray, delimiter: str = ",", fmt: str = BOX_FORMAT) -> str:
    """``boxes`` (N, 4) as text, one delimited line per row."""
    return "".join(delimiter.join(fmt % value for value in row) + "\n" for row in np.asarray(boxes, dtype=np.float64))


def write_sequence_result(tracker_dir: Path, sequence: str, boxes: np.ndarray, times: np.ndarray) -> None:
    """Store one finished sequence (boxes (N, 4) x, y, w, h; times (N,) seconds)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(times) != len(boxes):
        raise DatasetError(f"{sequence}: need N x 4 boxes and N times, got {boxes.shape} and {times.shape}")
    atomic_write_text(time_path(tracker_dir, sequence), "".join(TIME_FORMAT % t + "\n" for t in times))
    atomic_write_text(box_path(tracker_dir, sequence), format_boxes(boxes))


def read_sequence_result(tracker_dir: Path, sequence: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Boxes (N, 4) and per-frame seconds (N,), or None when the time file is missing."""
    from hit_core.data.annotations import read_boxes

    boxes = read_boxes(box_path(tracker_dir, sequence))
    times_file = time_path(tracker_dir, sequence)
    times = None
    if times_file.is_file():
        text = times_file.read_text(encoding="utf-8").split()
        times = np.asarray([float(t) for t in text], dtype=np.float64)
    return boxes, times


def is_finished(tracker_dir: Path, sequence: str, frames: int) -> bool:
    """True when the sequence's result exists with one box per frame and a matching time file."""
    boxes_file = box_path(tracker_dir, sequence)
    times_file = time_path(tracker_dir, sequence)
    if not (boxes_file.is_file() and times_file.is_file()):
        return False
    box_lines = sum(1 for line in boxes_file.read_text(encoding="utf-8").splitlines() if line.strip())
    time_lines = sum(1 for line in times_file.read_text(encoding="utf-8").splitlines() if line.strip())
    return box_lines == frames and time_lines == frames


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Pretty JSON, written atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
