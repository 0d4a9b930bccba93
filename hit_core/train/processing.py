"""From a raw pair to network inputs and labels (spec section 5).

Per crop: jitter the box, cut the square crop with the tracker's own crop function
(:func:`hit_core.tracking.crop.sample_target`, so training sees exactly what tracking sees),
express the ground truth in the crop, then augment. Joint draws (grey, and the flip unless
``independent_template_search_flip``) apply to both crops; brightness, contrast,
saturation and blur are drawn per crop.

Label convention (kept from the official recipe): the box centre in the crop is
``(size - 1) / 2 + (gt_centre - jittered_centre) * resize_factor``, its size
``gt_size * resize_factor``; the box is returned as (x, y, w, h) divided by the crop size.

Flips and grey conversion are done on the small crops rather than on the full frames:
a mirror of the frame followed by the same crop geometry gives the mirrored crop, so the
result has the official distribution without copying whole frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hit_core.errors import ConfigError
from hit_core.train.config import AugmentConfig, ProcessingConfig, TrainingConfig
from hit_core.train.sampler import RawPair

SEARCH_SIZE = 256
TEMPLATE_SIZE = 128
#: Total stride of the network: one output cell per 16 crop pixels.
FEATURE_STRIDE = 16
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class TrainingPair:
    """Network inputs and labels of one pair.

    ``template`` (3, 128, 128) and ``search`` (3, 256, 256): float32, ImageNet-normalised RGB,
    channels first. ``template_box`` / ``search_box``: float32 (x, y, w, h) of the target
    divided by the crop size (may extend beyond [0, 1] when the target leaves the crop).
    """

    template: np.ndarray
    search: np.ndarray
    template_box: np.ndarray
    search_box: np.ndarray


def jitter_box(box: np.ndarray, scale_jitter: float, center_jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered (x, y, w, h): size * exp(N(0,1) * scale_jitter), centre + (U - 0.5) * sqrt(w'h') * center_jitter."""
    size = box[2:4] * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = math.sqrt(float(size[0] * size[1])) * center_jitter
    center = box[0:2] + 0.5 * box[2:4] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([center - 0.5 * size, size])


def _valid_cells(start: int, side: int, image_extent: int, output_size: int) -> np.ndarray:
    """Which feature cells along one axis sample image pixels (nearest sampling of the padding mask)."""
    pad_before = max(0, -start)
    pad_after = max(start + side - image_extent + 1, 0)
    cell_pixels = np.arange(0, output_size, FEATURE_STRIDE, dtype=np.float64)
    crop_pixels = np.floor((cell_pixels + 0.5) * side / output_size)
    return (crop_pixels >= pad_before) & (crop_pixels < side - pad_after)


def feature_mask(box: np.ndarray, factor: float, image_shape: tuple[int, ...], output_size: int) -> np.ndarray:
    """(output_size/16)^2 boolean mask of feature cells that lie on the image (False = padding).

    The official pipeline rejects a crop whose padding mask, downsampled to the feature grid,
    is all padding; this computes that grid from the crop geometry directly.
    """
    from hit_core.tracking.crop import crop_window

    x1, y1, side = crop_window(box, factor)
    rows = _valid_cells(y1, side, image_shape[0], output_size)
    cols = _valid_cells(x1, side, image_shape[1], output_size)
    return rows[:, None] & cols[None, :]


def box_in_crop(gt_box: np.ndarray, crop_box: np.ndarray, resize_factor: float, output_size: int) -> np.ndarray:
    """Ground truth (x, y, w, h, image pixels) in a crop cut around ``crop_box``, divided by the crop size."""
    gt_center = gt_box[0:2] + 0.5 * gt_box[2:4]
    crop_center = crop_box[0:2] + 0.5 * crop_box[2:4]
    center = 0.5 * (output_size - 1) + (gt_center - crop_center) * resize_factor
    size = gt_box[2:4] * resize_factor
    return np.concatenate([center - 0.5 * size, size]) / output_size


def cut(
    image: np.ndarray,
    gt_box: np.ndarray,
    factor: float,
    output_size: int,
    scale_jitter: float,
    center_jitter: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Jitter, crop and label one crop: (uint8 RGB crop, normalised box), or None if rejected.

    Rejected (the caller draws another pair): a crop side below one pixel, or a crop whose
    feature grid lies entirely on padding.
    """
    from hit_core.tracking.crop import sample_target

    crop_box = jitter_box(gt_box, scale_jitter, center_jitter, rng)
    if not np.isfinite(crop_box).all():
        return None
    try:
        if not feature_mask(crop_box, factor, image.shape, output_size).any():
            return None
    except ConfigError:
        return None
    crop, resize_factor = sample_target(image, crop_box, factor, output_size)
    return crop, box_in_crop(gt_box, crop_box, resize_factor, output_size)


def flip_crop(crop: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a crop left-right and its normalised (x, y, w, h) box (x -> 1 - x - w)."""
    flipped = box.copy()
    flipped[0] = 1.0 - box[0] - box[2]
    return crop[:, ::-1], flipped


def to_gray(crop: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey replicated to three channels (OpenCV's conversion, as the official transform)."""
    import cv2

    return cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def photometric(crop: np.ndarray, augment: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-crop appearance changes on a uint8 RGB crop; returns float32 RGB in [0, 1] (H, W, 3).

    Brightness is the official ``x * U(1-b, 1+b) / 255`` clamped to [0, 1]; contrast,
    saturation and blur are optional extras (0 = off) for strong augmentation.
    """
    brightness = rng.uniform(1.0 - augment.brightness, 1.0 + augment.brightness)
    image = np.clip(crop.astype(np.float32) * np.float32(brightness / 255.0), 0.0, 1.0)
    if augment.contrast > 0:
        factor = np.float32(rng.uniform(1.0 - augment.contrast, 1.0 + augment.contrast))
        mean = np.float32((image @ _GRAY_WEIGHTS).mean())
        image = np.clip((image - mean) * factor + mean, 0.0, 1.0)
    if augment.saturation > 0:
        factor = np.float32(rng.uniform(1.0 - augment.saturation, 1.0 + augment.saturation))
        gray = (image @ _GRAY_WEIGHTS)[..., None]
        image = np.clip((image - gray) * factor + gray, 0.0, 1.0)
    if augment.blur_prob > 0 and rng.random() < augment.blur_prob:
        import cv2

        sigma = rng.uniform(*augment.blur_sigma)
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
    return image


def normalize(image: np.ndarray) -> np.ndarray:
    """float32 RGB in [0, 1] (H, W, 3) -> ImageNet-normalised (3, H, W), C-contiguous."""
    return np.ascontiguousarray(((image - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


class PairProcessor:
    """Turns a :class:`RawPair` into a :class:`TrainingPair` (or None when the draw must be rejected)."""

    def __init__(self, config: TrainingConfig) -> None:
        self.processing: ProcessingConfig = config.processing
        self.config = config

    def __call__(self, pair: RawPair, rng: np.random.Generator) -> TrainingPair | None:
        augment = self.config.augment_for(pair.mode)
        p = self.processing
        gray = rng.random() < augment.grayscale_prob
        template = cut(
            pair.template_image, pair.template_box, p.template_factor, TEMPLATE_SIZE,
            p.template_scale_jitter, p.template_center_jitter, rng,
        )
        if template is None:
            return None
        search = cut(
            pair.search_image, pair.search_box, p.search_factor, SEARCH_SIZE,
            p.search_scale_jitter, p.search_center_jitter, rng,
        )
        if search is None:
            return None
        if augment.independent_template_search_flip:
            flips = (rng.random() < augment.flip_prob, rng.random() < augment.flip_prob)
        else:
            flip = rng.random() < augment.flip_prob
            flips = (flip, flip)
        outputs = []
        for (crop, box), flip in zip((template, search), flips, strict=True):
            if gray:
                crop = to_gray(crop)
            if flip:
                crop, box = flip_crop(crop, box)
            outputs.append((normalize(photometric(crop, augment, rng)), box.astype(np.float32)))
        (template_image, template_box), (search_image, search_box) = outputs
        return TrainingPair(template_image, search_image, template_box, search_box)
