"""``load_dataset(name, root, split)``: one entry point for every supported benchmark."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError


@dataclass(frozen=True)
class DatasetInfo:
    """How to read one dataset: its reader, its splits (first = default) and its expected layout."""

    reader: Callable[[Path, str | None], list[Sequence]]
    splits: tuple[str | None, ...]
    layout: str


def _reader(module: str, function: str) -> Callable[[Path, str | None], list[Sequence]]:
    """Import the reader only when its dataset is used."""

    def read(root: Path, split: str | None) -> list[Sequence]:
        load = getattr(importlib.import_module(f"hit_core.data.{module}"), function)
        return load(root) if split is None else load(root, split)

    return read


DATASETS: dict[str, DatasetInfo] = {
    "folder": DatasetInfo(
        _reader("folder", "load_folder"), (None,), "ROOT[/<group>]/<sequence>/{img/*.jpg, groundtruth.txt}"
    ),
    "otb": DatasetInfo(_reader("otb", "load_otb"), (None,), "ROOT/<Sequence>/{img/*.jpg, groundtruth_rect.txt}"),
    "lasot": DatasetInfo(
        _reader("lasot", "load_lasot"),
        ("test", "train"),
        "ROOT/<class>/<class>-<n>/{img/*.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt}",
    ),
    "lasot_ext": DatasetInfo(
        _reader("lasot", "load_lasot_ext"),
        (None,),
        "ROOT/<class>/<class>-<n>/{img/*.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt}",
    ),
    "got10k": DatasetInfo(
        _reader("got10k", "load_got10k"),
        ("val", "test", "train", "vottrain", "votval"),
        "ROOT/{train,val,test}/{list.txt, GOT-10k_<Split>_<nnnnnn>/{*.jpg, groundtruth.txt, *.label, meta_info.ini}}",
    ),
    "trackingnet": DatasetInfo(
        _reader("trackingnet", "load_trackingnet"),
        ("test", "train"),
        "ROOT/{TEST,TRAIN_<k>}/{anno/<seq>.txt, frames/<seq>/<n>.jpg}",
    ),
    "uav123": DatasetInfo(
        _reader("uav123", "load_uav123"), (None,), "ROOT/{anno/UAV123/<seq>.txt, data_seq/UAV123/<folder>/%06d.jpg}"
    ),
    "uav123_10fps": DatasetInfo(
        _reader("uav123", "load_uav123_10fps"),
        (None,),
        "ROOT/{anno/UAV123_10fps/<seq>.txt, data_seq/UAV123_10fps/<folder>/%06d.jpg}",
    ),
    "nfs": DatasetInfo(_reader("nfs", "load_nfs"), (None,), "ROOT/<seq>/30/{<seq>.txt, <seq>/*.jpg}"),
}


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(DATASETS)


def load_dataset(name: str, root: str | Path, split: str | None = None) -> list[Sequence]:
    """Read the sequences of dataset ``name`` found at ``root``.

    ``split`` picks a part of datasets that have several (``None`` = the evaluation
    split: LaSOT test, GOT-10k val, TrackingNet test). Boxes are ``x, y, w, h`` in pixels
    exactly as the dataset writes them. Raises DatasetError naming the file that was
    expected where, when the dataset is missing or malformed.
    """
    key = name.lower()
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}")
    info = DATASETS[key]
    if split is not None and split not in info.splits:
        choices = ", ".join(str(s) for s in info.splits if s is not None) or "none"
        raise DatasetError(f"dataset {key} has no split {split!r}; its splits: {choices}")
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise DatasetError(f"{key} root {root_path} is not a folder; expected the layout {info.layout}")
    sequences = info.reader(root_path, split if split is not None else info.splits[0])
    if not sequences:
        raise DatasetError(f"no {key} sequences found under {root_path}; expected the layout {info.layout}")
    return sequences
