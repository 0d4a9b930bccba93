"""Training logs: one CSV file (always) and TensorBoard event files (optional), written by rank 0.

``metrics.csv`` has one row per logging interval (split "train") and per validation
(split "val"); its columns are :data:`COLUMNS`. Resuming from epoch E first drops the rows
of later epochs (work that the crash lost), so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from hit_core.errors import ConfigError

COLUMNS = ("epoch", "step", "split", "loss", "giou", "l1", "iou", "lr_head", "lr_backbone", "pairs_per_s", "elapsed_s")


def say(message: str) -> None:
    """Print a line without breaking a running progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


class MetricsLog:
    """Appends metric rows to ``<run>/metrics.csv`` and, if enabled, ``<run>/tensorboard``."""

    def __init__(self, run_dir: Path, tensorboard: bool, resume_epoch: int | None, resume_step: int) -> None:
        self.csv_path = run_dir / "metrics.csv"
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume_epoch is None or not self.csv_path.is_file():
            with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(COLUMNS)
        else:
            self._truncate_after(resume_epoch)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError(
                    "TensorBoard logging needs the tensorboard package: pip install tensorboard "
                    "(or set train.tensorboard=false to log to metrics.csv only)"
                ) from None
            # purge_step drops events a crashed run wrote after the checkpoint we resume from
            self.writer = SummaryWriter(
                str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_epoch is not None else None
            )

    def _truncate_after(self, epoch: int) -> None:
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= epoch]
        with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(kept)

    def write(self, row: dict[str, float | int | str]) -> None:
        """Append one row (keys from COLUMNS; missing ones are left empty) and mirror it to TensorBoard."""
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([_format(row.get(column, "")) for column in COLUMNS])
        if self.writer is not None:
            split = row["split"]
            for column in COLUMNS[3:]:
                value = row.get(column)
                if isinstance(value, (int, float)):
                    group = "lr" if column.startswith("lr_") else str(split)
                    self.writer.add_scalar(f"{group}/{column}", value, int(row["step"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _format(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_metrics(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
