"""Which frames make a training pair (spec section 5), as a pure function of a numpy Generator.

A source is one configured dataset entry. A draw picks a source with probability
proportional to its ratio, a usable sequence uniformly, then the frames:

* "video": template frame t uniform among the visible frames that have a later visible
  frame; search frame uniform among the visible frames in [t+1, t+gap) with
  gap = max_interval, widened by 5 until the window holds one (the official "causal" rule);
* "still": one visible frame is both template and search (COCO-style), with its annotated
  box or a random box.

Everything random comes from the Generator passed in, so a pair is reproducible from
(seed, epoch, index) whatever process or data-loader worker draws it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass

import numpy as np

from hit_core.data.sequence import Sequence
from hit_core.errors import DatasetError
from hit_core.train.config import DatasetSpec, SamplingConfig


def valid_frames(sequence: Sequence) -> np.ndarray:
    """Boolean mask of frames whose box is finite with w, h > 0 and that the dataset marks visible."""
    boxes = sequence.ground_truth
    valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    if sequence.visible is not None:
        valid &= np.asarray(sequence.visible, dtype=bool)
    return valid


@dataclass(frozen=True)
class PairSource:
    """One dataset entry ready for sampling: its sequences and which of them are usable."""

    name: str
    spec: DatasetSpec
    sequences: SequenceABC
    #: Indices of the sequences that may be drawn; None = all (still-image sources).
    usable: np.ndarray | None

    def __len__(self) -> int:
        return len(self.sequences) if self.usable is None else len(self.usable)

    def sequence(self, draw: int) -> Sequence:
        return self.sequences[draw if self.usable is None else int(self.usable[draw])]


@dataclass(frozen=True)
class RawPair:
    """Two decoded RGB frames and the target box (x, y, w, h, image pixels) in each."""

    template_image: np.ndarray
    template_box: np.ndarray
    search_image: np.ndarray
    search_box: np.ndarray
    mode: str
    source: str
    sequence: str
    template_frame: int
    search_frame: int


def _read_sequences(spec: DatasetSpec) -> SequenceABC:
    if spec.loader == "coco":
        from hit_core.data.coco import load_coco

        return load_coco(spec.root, spec.split)
    from hit_core.data import load_dataset

    return load_dataset(spec.loader, spec.root, spec.split)


def _select(sequences: SequenceABC, names: list[str], entry: str) -> list[Sequence]:
    import difflib

    by_name = {seq.name: seq for seq in sequences}
    missing = [name for name in names if name not in by_name]
    if missing:
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, by_name, 1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise DatasetError(f"{entry}: sequences not found: {', '.join(hints)}")
    return [by_name[name] for name in names]


def build_source(name: str, spec: DatasetSpec, sampling: SamplingConfig) -> PairSource:
    """Load one dataset entry and find its usable sequences.

    Video sources keep sequences with at least ``min_frames`` frames and
    ``min_visible_frames`` (and at least two) valid frames; still sources keep all.
    """
    sequences = _read_sequences(spec)
    if spec.sequences is not None:
        sequences = _select(sequences, spec.sequences, name)
    if spec.mode == "still":
        return PairSource(name, spec, sequences, None)
    needed_visible = max(2, sampling.min_visible_frames)
    usable = np.asarray(
        [
            i
            for i, seq in enumerate(sequences)
            if len(seq) >= sampling.min_frames and int(valid_frames(seq).sum()) >= needed_visible
        ],
        dtype=np.int64,
    )
    if len(usable) == 0:
        raise DatasetError(
            f"{name}: none of its {len(sequences)} sequences has >= {sampling.min_frames} frames and "
            f">= {needed_visible} visible frames; lower data.sampling.min_frames or check the annotations"
        )
    return PairSource(name, spec, sequences, usable)


def build_sources(entries: Mapping[str, DatasetSpec], sampling: SamplingConfig) -> list[PairSource]:
    """Load every entry with a positive ratio, in a stable (sorted) order."""
    return [build_source(name, spec, sampling) for name, spec in sorted(entries.items()) if spec.ratio > 0]


def random_box(image_shape: tuple[int, ...], sampling: SamplingConfig, rng: np.random.Generator) -> np.ndarray:
    """A random box inside an image: log-uniform size and aspect ratio, uniform position."""
    height, width = image_shape[:2]
    lo, hi = sampling.random_box_scale
    side = math.exp(rng.uniform(math.log(lo), math.log(hi))) * math.sqrt(width * height)
    aspect = math.exp(rng.uniform(-math.log(sampling.random_box_aspect), math.log(sampling.random_box_aspect)))
    w = min(side * math.sqrt(aspect), float(width))
    h = min(side / math.sqrt(aspect), float(height))
    x = rng.uniform(0.0, width - w)
    y = rng.uniform(0.0, height - h)
    return np.array([x, y, w, h], dtype=np.float64)


def causal_frames(valid: np.ndarray, max_interval: int, rng: np.random.Generator) -> tuple[int, int]:
    """Template frame t and a later search frame within the interval (widened by 5 when empty)."""
    visible = np.flatnonzero(valid)
    if len(visible) < 2:
        raise DatasetError("a video pair needs at least two visible frames")
    template = int(rng.choice(visible[:-1]))
    gap = max_interval
    while True:
        lo = np.searchsorted(visible, template + 1)
        hi = np.searchsorted(visible, template + gap)
        if hi > lo:
            return template, int(visible[lo + rng.integers(hi - lo)])
        gap += 5


class PairSampler:
    """Draws :class:`RawPair` objects from weighted sources."""

    def __init__(self, sources: list[PairSource], sampling: SamplingConfig) -> None:
        if not sources:
            raise DatasetError("no dataset with a positive ratio to sample pairs from")
        self.sources = sources
        self.sampling = sampling
        ratios = np.asarray([source.spec.ratio for source in sources], dtype=np.float64)
        self.probabilities = ratios / ratios.sum()

    def sample(self, rng: np.random.Generator) -> RawPair:
        """One pair. Raises DatasetError when the drawn frame cannot be read or has no valid box."""
        source = self.sources[int(rng.choice(len(self.sources), p=self.probabilities))]
        sequence = source.sequence(int(rng.integers(len(source))))
        valid = valid_frames(sequence)
        if source.spec.mode == "video":
            template_frame, search_frame = causal_frames(valid, self.sampling.max_interval, rng)
            template_image = sequence.frame(template_frame)
            search_image = sequence.frame(search_frame)
            template_box = sequence.ground_truth[template_frame]
            search_box = sequence.ground_truth[search_frame]
        else:
            visible = np.flatnonzero(valid)
            if source.spec.still_box == "ground_truth" and len(visible) == 0:
                raise DatasetError(f"{sequence.name} has no frame with a valid box")
            candidates = visible if source.spec.still_box == "ground_truth" else np.arange(len(sequence))
            template_frame = search_frame = int(candidates[rng.integers(len(candidates))])
            template_image = search_image = sequence.frame(template_frame)
            if source.spec.still_box == "random":
                template_box = search_box = random_box(template_image.shape, self.sampling, rng)
            else:
                template_box = search_box = sequence.ground_truth[template_frame]
        return RawPair(
            template_image=template_image,
            template_box=np.asarray(template_box, dtype=np.float64),
            search_image=search_image,
            search_box=np.asarray(search_box, dtype=np.float64),
            mode=source.spec.mode,
            source=source.name,
            sequence=sequence.name,
            template_frame=template_frame,
            search_frame=search_frame,
        )
