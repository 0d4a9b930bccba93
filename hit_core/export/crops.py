"""Real (template, search) crop pairs for export checks and INT8 calibration.

Checks against PyTorch and INT8 calibration must see what the network sees when it
tracks, not random noise: crops are cut from real frames with the tracker's own crop
function (:func:`hit_core.tracking.crop.sample_target`). For a sequence with ground truth
the template is cut around the first frame's box (factor 2 -> 128 px) and each search
crop from a later frame around the previous frame's box (factor 4 -> 256 px), i.e. as if
the tracker had been right one frame earlier, so the target is off-centre and moving as
in real tracking. A plain folder of images (no ground truth) uses a centred box of half
the image's width and height in every image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hit_core.errors import DatasetError, ExportError

TEMPLATE_FACTOR = 2.0
SEARCH_FACTOR = 4.0
TEMPLATE_SIZE = 128
SEARCH_SIZE = 256


@dataclass(frozen=True)
class CropPair:
    """One network input pair: uint8 RGB crops, C-contiguous; ``source`` names where they came from."""

    template: np.ndarray
    search: np.ndarray
    source: str


def bundled_sequences_dir() -> Path:
    """Where the package keeps its bundled demo sequence(s): ``hit_core/assets/sequences``.

    Package data, so pip and colcon installs carry it (the default images of ``hit export``,
    ``hit bench`` and INT8 calibration)."""
    return Path(__file__).resolve().parents[1] / "assets" / "sequences"


def default_image_sources() -> list[Path]:
    """The bundled demo sequence folder, or an ExportError saying what to pass instead."""
    root = bundled_sequences_dir()
    if root.is_dir() and any(root.iterdir()):
        return [root]
    raise ExportError(
        f"no real images to check or calibrate with: the bundled demo sequences ({root}) are not installed; "
        f"pass a sequence folder (img/ + groundtruth.txt) or a folder of images explicitly"
    )


def _sequence_pairs(sequence, count: int) -> list[CropPair]:
    from hit_core.tracking.crop import sample_target

    boxes = sequence.ground_truth
    usable = [i for i in range(1, len(sequence)) if np.all(np.isfinite(boxes[i - 1])) and np.all(boxes[i - 1, 2:] > 0)]
    if not np.all(np.isfinite(boxes[0])) or not usable:
        raise DatasetError(f"sequence {sequence.name} has no usable ground truth for crops (first box {boxes[0]})")
    template, _ = sample_target(sequence.frame(0), boxes[0], TEMPLATE_FACTOR, TEMPLATE_SIZE)
    chosen = [usable[int(k)] for k in np.linspace(0, len(usable) - 1, num=min(count, len(usable)))]
    pairs = []
    for index in dict.fromkeys(chosen):
        search, _ = sample_target(sequence.frame(index), boxes[index - 1], SEARCH_FACTOR, SEARCH_SIZE)
        pairs.append(CropPair(template, search, f"{sequence.name}#{index + 1}"))
    return pairs


def _image_folder_pairs(folder: Path, count: int) -> list[CropPair]:
    from hit_core.data.annotations import list_images
    from hit_core.data.sequence import read_frame_rgb
    from hit_core.tracking.crop import sample_target

    images = list_images(folder)  # raises DatasetError when the folder holds no frames
    chosen = [images[int(k)] for k in np.linspace(0, len(images) - 1, num=min(count, len(images)))]
    pairs = []
    for path in dict.fromkeys(chosen):
        frame = read_frame_rgb(path)
        height, width = frame.shape[:2]
        box = (width / 4, height / 4, width / 2, height / 2)
        template, _ = sample_target(frame, box, TEMPLATE_FACTOR, TEMPLATE_SIZE)
        search, _ = sample_target(frame, box, SEARCH_FACTOR, SEARCH_SIZE)
        pairs.append(CropPair(template, search, str(path)))
    return pairs


def _holds_sequences(path: Path) -> bool:
    """True when ``path`` is a sequence or has sequences one or two levels below (the folder format)."""
    from hit_core.data.folder import is_sequence_dir

    if is_sequence_dir(path):
        return True
    children = [child for child in path.iterdir() if child.is_dir()]
    return any(
        is_sequence_dir(child) or any(is_sequence_dir(grandchild) for grandchild in child.iterdir() if grandchild.is_dir())
        for child in children
    )


def real_crop_pairs(sources: Iterable[str | Path], pairs_per_source: int = 4) -> list[CropPair]:
    """Crop pairs from each source: a folder of sequences, one sequence, or a folder of images.

    ``pairs_per_source`` search crops are taken per sequence (or image folder), spread
    evenly over its frames. Raises DatasetError when a source holds nothing usable.
    """
    from hit_core.data.folder import load_folder

    if pairs_per_source < 1:
        raise ExportError(f"pairs_per_source must be at least 1, got {pairs_per_source}")
    pairs: list[CropPair] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.is_dir():
            raise DatasetError(f"image source {path} is not a folder (give a sequence folder or a folder of images)")
        if _holds_sequences(path):
            for sequence in load_folder(path):
                pairs.extend(_sequence_pairs(sequence, pairs_per_source))
        else:
            pairs.extend(_image_folder_pairs(path, pairs_per_source))
    if not pairs:
        raise DatasetError("no crop pairs could be made from the given image sources")
    return pairs
