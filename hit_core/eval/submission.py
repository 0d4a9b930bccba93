"""Pack raw results for the GOT-10k and TrackingNet evaluation servers.

GOT-10k (test): a zip holding ``<seq>/<seq>_001.txt`` (one comma-separated ``x,y,w,h`` line per
frame; ``_001`` = the first and, for a deterministic tracker, only repetition) and
``<seq>/<seq>_time.txt`` (seconds per frame), as the GOT-10k toolkit writes them.
TrackingNet (test): a zip holding ``<seq>.txt`` (comma-separated ``x,y,w,h`` per frame) at its
top level. Every sequence of the split must be finished; the zip is written atomically.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError
from hit_core.eval.results import TIME_FORMAT, format_boxes, read_sequence_result
from hit_core.eval.scoring import missing_sequences

SERVERS = ("got10k", "trackingnet")


def package_submission(server: str, sequences: list[Sequence], tracker_dir: str | Path, output: str | Path) -> Path:
    """Write the submission zip for ``server`` ("got10k" or "trackingnet") to ``output``."""
    if server not in SERVERS:
        raise DatasetError(f"unknown evaluation server {server!r}; choose one of {', '.join(SERVERS)}")
    tracker_dir = Path(tracker_dir)
    missing = missing_sequences(sequences, tracker_dir)
    if missing:
        raise DatasetError(
            f"cannot package {tracker_dir.name} for {server}: {len(missing)} of {len(sequences)} sequences are "
            f"not finished (first: {missing[0]}); rerun hit eval to complete them"
        )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for sequence in sequences:
                boxes, times = read_sequence_result(tracker_dir, sequence.name)
                if server == "got10k":
                    archive.writestr(f"{sequence.name}/{sequence.name}_001.txt", format_boxes(boxes))
                    if times is not None:
                        text = "".join(TIME_FORMAT % t + "\n" for t in times)
                        archive.writestr(f"{sequence.name}/{sequence.name}_time.txt", text)
                else:
                    archive.writestr(f"{sequence.name}.txt", format_boxes(boxes))
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output
