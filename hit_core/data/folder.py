"""The generic folder format: ``<sequence>/img/*`` plus ``<sequence>/groundtruth.txt``.

The root may be one sequence, a folder of sequences, or a folder of folders of
sequences (``root/<group>/<sequence>``, as the project's shared data). Sequence
names are their paths relative to the root (``OTB100/Car4``), so they stay unique.
Optional files beside ``groundtruth.txt``: ``attrs.txt`` (comma-separated attribute
names), ``*.tag`` (VOT per-frame attribute flags; an attribute is listed when any frame
has it), ``nlp.txt`` (a language description, kept in ``extra["language"]``).
"""

from __future__ import annotations

from pathlib import Path

from hit_core.data.annotations import list_images, read_boxes, read_flags, require_dir
from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError

GROUND_TRUTH = "groundtruth.txt"
FRAMES = "img"


def is_sequence_dir(path: Path) -> bool:
    """True when ``path`` holds ``img/`` and ``groundtruth.txt``."""
    return (path / GROUND_TRUTH).is_file() and (path / FRAMES).is_dir()


def load_folder(root: str | Path) -> list[Sequence]:
    """Load every sequence at most two levels below ``root``, sorted by name.

    Ground truth is ``x,y,w,h`` per line (commas, tabs or spaces), one line per frame in
    the sorted order of ``img/``; the line count must equal the frame count.
    """
    root = require_dir(Path(root).expanduser(), "a folder of sequences (each with img/ and groundtruth.txt)")
    if is_sequence_dir(root):
        return [load_sequence_dir(root, root.name)]
    found: list[Path] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if is_sequence_dir(child):
            found.append(child)
            continue
        found.extend(sorted(g for g in child.iterdir() if g.is_dir() and is_sequence_dir(g)))
    if not found:
        raise DatasetError(
            f"no sequences under {root}: expected <sequence>/{FRAMES}/ and <sequence>/{GROUND_TRUTH} "
            f"one or two folder levels below it"
        )
    return [load_sequence_dir(path, path.relative_to(root).as_posix()) for path in found]


def load_sequence_dir(path: Path, name: str) -> Sequence:
    """Read one folder-format sequence from ``path`` and call it ``name``."""
    frames = list_images(path / FRAMES)
    ground_truth = read_boxes(path / GROUND_TRUTH)
    if len(ground_truth) != len(frames):
        raise DatasetError(
            f"{path / GROUND_TRUTH} has {len(ground_truth)} boxes but {path / FRAMES} has {len(frames)} frames; "
            f"expected one box per frame"
        )
    extra: dict = {"path": path}
    language = path / "nlp.txt"
    if language.is_file():
        extra["language"] = language.read_text(encoding="utf-8", errors="replace").strip()
    return Sequence(
        name=name,
        dataset="folder",
        frames=tuple(frames),
        ground_truth=ground_truth,
        attributes=_attributes(path),
        extra=extra,
    )


def read_attribute_file(path: Path) -> tuple[str, ...]:
    """Attribute names listed in ``path`` (comma- or line-separated); empty when there is no file."""
    if not path.is_file():
        return ()
    text = path.read_text(encoding="utf-8", errors="replace")
    return tuple(a.strip() for a in text.replace("\n", ",").split(",") if a.strip())


def _attributes(path: Path) -> tuple[str, ...]:
    names = list(read_attribute_file(path / "attrs.txt"))
    for tag in sorted(path.glob("*.tag")):
        if read_flags(tag).any():
            names.append(tag.stem)
    return tuple(dict.fromkeys(names))
