"""COCO 2017 object annotations as one-frame tracking "sequences" (for training).

Layout (as distributed): ``<root>/annotations/instances_<split>.json`` and the images in
``<root>/<split>/`` or ``<root>/images/<split>/``. Every non-crowd annotation becomes a
sequence of one frame whose box is the annotation's ``bbox`` (x, y, w, h in pixels,
0-based, as COCO writes it). The JSON is parsed once into compact arrays; sequences are
built on access, so the 860k annotations of train2017 cost a few tens of MB, not GBs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

from hit_core.data.annotations import require_dir, require_file
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

_SPLIT = re.compile(r"^(train|val)(20\d\d)?$")


class CocoObjects(SequenceABC):
    """Read-only list of :class:`Sequence` objects, one per non-crowd annotation."""

    def __init__(
        self,
        image_dir: Path,
        file_names: np.ndarray,
        image_of: np.ndarray,
        boxes: np.ndarray,
        annotation_ids: np.ndarray,
        categories: np.ndarray,
        category_names: dict[int, str],
    ) -> None:
        self.image_dir = image_dir
        self._file_names = file_names
        self._image_of = image_of
        self._boxes = boxes
        self._annotation_ids = annotation_ids
        self._categories = categories
        self._category_names = category_names

    def __len__(self) -> int:
        return len(self._boxes)

    def __getitem__(self, index: int) -> Sequence:  # type: ignore[override]
        if isinstance(index, slice):
            raise TypeError("CocoObjects does not support slicing; index one annotation at a time")
        if not -len(self) <= index < len(self):
            raise IndexError(f"annotation index {index} out of range for {len(self)} annotations")
        image = self.image_dir / str(self._file_names[self._image_of[index]])
        return Sequence(
            name=f"coco/{int(self._annotation_ids[index])}",
            dataset="coco",
            frames=(image,),
            ground_truth=self._boxes[index : index + 1],
            object_class=self._category_names.get(int(self._categories[index])),
        )


def _split_name(split: str | None) -> str:
    split = (split or "train2017").lower()
    match = _SPLIT.match(split)
    if not match:
        raise DatasetError(f"COCO split {split!r} is not valid; use train2017 or val2017")
    return split if match.group(2) else f"{split}2017"


def load_coco(root: str | Path, split: str | None = "train2017") -> CocoObjects:
    """Load the non-crowd object annotations of a COCO split (default train2017)."""
    root = require_dir(Path(root).expanduser(), "the COCO root (with annotations/ and the image folders)")
    split = _split_name(split)
    annotation_file = require_file(root / "annotations" / f"instances_{split}.json", f"the COCO {split} annotations")
    image_dir = next((d for d in (root / split, root / "images" / split) if d.is_dir()), None)
    if image_dir is None:
        raise DatasetError(f"COCO images of {split} not found: expected {root / split} or {root / 'images' / split}")
    try:
        content = json.loads(annotation_file.read_text(encoding="utf-8"))
        images = content["images"]
        annotations = content["annotations"]
        category_names = {int(c["id"]): str(c["name"]) for c in content.get("categories", [])}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DatasetError(f"{annotation_file} is not a COCO instances file ({error})") from None
    row_of_image = {int(image["id"]): row for row, image in enumerate(images)}
    file_names = np.asarray([str(image["file_name"]) for image in images])
    kept = [a for a in annotations if not a.get("iscrowd", 0)]
    if not kept:
        raise DatasetError(f"{annotation_file} has no non-crowd annotations")
    try:
        image_of = np.asarray([row_of_image[int(a["image_id"])] for a in kept], dtype=np.int64)
        boxes = np.asarray([a["bbox"] for a in kept], dtype=np.float64).reshape(-1, 4)
    except (KeyError, ValueError) as error:
        raise DatasetError(f"{annotation_file}: an annotation has a bad image_id or bbox ({error})") from None
    return CocoObjects(
        image_dir=image_dir,
        file_names=file_names,
        image_of=image_of,
        boxes=boxes,
        annotation_ids=np.asarray([int(a.get("id", i)) for i, a in enumerate(kept)], dtype=np.int64),
        categories=np.asarray([int(a.get("category_id", -1)) for a in kept], dtype=np.int64),
        category_names=category_names,
    )
