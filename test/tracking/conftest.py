"""Shared helpers for the tracking tests: parity fixture files and decoded sequence frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hit_core.data.sequence import read_frame_rgb
from tracking.helpers import SEQUENCES


@pytest.fixture(scope="session")
def load_npz(parity_dir: Path):
    cache: dict[str, dict[str, np.ndarray]] = {}

    def load(name: str) -> dict[str, np.ndarray]:
        if name not in cache:
            with np.load(parity_dir / name) as data:
                cache[name] = {key: data[key] for key in data.files}
        return cache[name]

    return load


@pytest.fixture(scope="session")
def sequence_frames(data_dir: Path):
    """``frames(name)`` -> list of decoded RGB frames (official decoding: cv2.imread + BGR2RGB)."""
    cache: dict[str, list[np.ndarray]] = {}

    def frames(name: str) -> list[np.ndarray]:
        if name not in cache:
            paths = sorted((data_dir / SEQUENCES[name] / "img").glob("*.jpg"))
            cache[name] = [read_frame_rgb(path) for path in paths]
        return cache[name]

    return frames


@pytest.fixture(scope="session")
def backend_cache_dir(tmp_path_factory) -> Path:
    """One cache of derived graphs/engines for all tracking tests (built once per session)."""
    return tmp_path_factory.mktemp("backend_cache")


@pytest.fixture(scope="session")
def torch_tiny_backend(fixture_checkpoint):
    """The PyTorch backend with the fixture HiT-Tiny weights, shared by the tracking tests.

    It runs one intra-op thread (restored afterwards): on a loaded 2-core machine two
    spinning threads slow PyTorch down many-fold, and one thread is as fast when idle.
    """
    import torch

    from hit_core.tracking.backends import create_backend

    threads = torch.get_num_threads()
    backend = create_backend("torch", variant="tiny", checkpoint=fixture_checkpoint("tiny"), threads=1)
    yield backend
    backend.close()
    torch.set_num_threads(threads)
