"""PyTorch data loading of training pairs.

Every pair is a pure function of (seed, stream, epoch, index): the sampler hands the
dataset ``(epoch, index)`` keys and the dataset seeds a fresh numpy Generator from them.
So the data stream does not depend on the number of loader workers, needs no worker RNG
state in checkpoints, and a run resumed at an epoch boundary sees exactly the pairs it
would have seen.

With ``world`` processes, step k of process r takes the global indices
``(k * world + r) * batch_size + j`` (j < batch_size).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from hit_core.errors import DatasetError
from hit_core.train.processing import PairProcessor
from hit_core.train.sampler import PairSampler

TRAIN_STREAM = 0
VALIDATION_STREAM = 1


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset indexed by ``(epoch, index)`` tuples."""

    def __init__(self, sampler: PairSampler, processor: PairProcessor, seed: int, stream: int) -> None:
        self.sampler = sampler
        self.processor = processor
        self.seed = seed
        self.stream = stream

    def generator(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream, epoch, index])

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key
        rng = self.generator(epoch, index)
        attempts = self.sampler.sampling.max_attempts
        last_problem = "every draw was rejected (box too small or crop outside the image)"
        for _ in range(attempts):
            try:
                pair = self.sampler.sample(rng)
            except DatasetError as error:
                last_problem = str(error)
                continue
            processed = self.processor(pair, rng)
            if processed is not None:
                return {
                    "template": torch.from_numpy(processed.template),
                    "search": torch.from_numpy(processed.search),
                    "template_box": torch.from_numpy(processed.template_box),
                    "search_box": torch.from_numpy(processed.search_box),
                }
        raise DatasetError(
            f"no usable training pair after {attempts} draws (epoch {epoch}, index {index}): {last_problem}; "
            f"check the dataset annotations or raise data.sampling.max_attempts"
        )


class EpochSampler(torch.utils.data.Sampler):
    """Yields this process's ``(epoch, index)`` keys of one epoch, batch after batch."""

    def __init__(self, batch_size: int, steps: int, rank: int = 0, world: int = 1) -> None:
        self.batch_size = batch_size
        self.steps = steps
        self.rank = rank
        self.world = world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for step in range(self.steps):
            first = (step * self.world + self.rank) * self.batch_size
            for index in range(first, first + self.batch_size):
                yield self.epoch, index

    def __len__(self) -> int:
        return self.steps * self.batch_size


class ShardSampler(torch.utils.data.Sampler):
    """The fixed validation keys ``(0, i)`` with ``i % world == rank`` (all processes together cover every i)."""

    def __init__(self, samples: int, rank: int = 0, world: int = 1) -> None:
        self.indices = range(rank, samples, world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((0, index) for index in self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(
    dataset: PairDataset,
    sampler: torch.utils.data.Sampler,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
) -> torch.utils.data.DataLoader:
    """DataLoader over ``dataset`` in the order of ``sampler``; workers stay alive across epochs.

    With workers, OpenCV's thread pool is switched off in this process first: workers are
    forked, and a forked copy of a pthreads pool can hang the first OpenCV call in the worker
    (with workers this process does no image work, and each worker is one of several processes).
    """
    if num_workers > 0:
        import cv2

        cv2.setNumThreads(0)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=False,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )
