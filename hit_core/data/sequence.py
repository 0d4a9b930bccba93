"""The one in-memory description of a tracking sequence."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hit_core.errors import DatasetError


def read_frame_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to an H x W x 3 uint8 RGB array (OpenCV decoder, as the official evaluation)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}: the file is missing or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class Sequence:
    """A video with per-frame ground truth.

    ``ground_truth`` is (N, 4) float64 ``x, y, w, h`` exactly as the dataset writes it
    (OTB-style 1-based values are kept unchanged, as the official toolkits do); rows the
    dataset leaves unannotated are NaN. ``visible`` is None when the dataset has no
    visibility flags.
    """

    name: str
    dataset: str
    frames: tuple[Path, ...]
    ground_truth: np.ndarray
    visible: np.ndarray | None = None
    attributes: tuple[str, ...] = ()
    object_class: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        gt = self.ground_truth
        if gt.ndim != 2 or gt.shape[1] != 4:
            raise DatasetError(f"sequence {self.name}: ground truth must be N x 4, got shape {gt.shape}")
        if self.visible is not None and len(self.visible) != len(gt):
            raise DatasetError(
                f"sequence {self.name}: {len(self.visible)} visibility flags for {len(gt)} ground-truth rows"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as H x W x 3 uint8 RGB."""
        return read_frame_rgb(self.frames[index])
