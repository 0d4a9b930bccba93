"""Helpers of the training tests (image-region comparison on real frames)."""

from __future__ import annotations

import numpy as np


def box_patch(image: np.ndarray, box: np.ndarray, size: int = 16) -> np.ndarray:
    """The image region under ``box`` (x, y, w, h, pixels), low-passed and resampled to size x size float32.

    Low-passing before sampling makes regions seen at different scales comparable.
    """
    import cv2

    x, y, w, h = (float(v) for v in box)
    sigma = 0.6 * max(w, h) / size
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    warp = np.array([[size / w, 0.0, -x * size / w], [0.0, size / h, -y * size / h]])
    return cv2.warpAffine(smooth, warp, (size, size), flags=cv2.INTER_LINEAR)


def inside(box: np.ndarray, extent: float) -> bool:
    return bool(box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= extent and box[1] + box[3] <= extent)


def denormalize(chw: np.ndarray) -> np.ndarray:
    """ImageNet-normalised (3, H, W) -> float32 RGB in [0, 255] (H, W, 3)."""
    from hit_core.train.processing import IMAGENET_MEAN, IMAGENET_STD

    return (chw.transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN) * 255.0
