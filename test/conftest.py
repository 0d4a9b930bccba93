"""Paths to the shared test data and fixtures, and the fixtures' deterministic HiT weights, for every test."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    """``$HIT_SHARED_DIR``, else ``shared/`` beside this checkout, else beside the local repository it was cloned
    from (a throw-away CI clone in a temporary folder has no neighbours of its own)."""
    if "HIT_SHARED_DIR" in os.environ:
        return Path(os.environ["HIT_SHARED_DIR"]).resolve()
    beside = REPO_ROOT.parent / "shared"
    if beside.is_dir():
        return beside.resolve()
    origin = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / "shared").is_dir():
        return (Path(origin).resolve().parent / "shared").resolve()
    return beside


SHARED_DIR = _shared_dir()
DATA_DIR = SHARED_DIR / "data" / "sot"
PARITY_DIR = SHARED_DIR / "fixtures" / "official_parity"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"shared test data not found at {path}; clone the project beside its shared/ folder "
            f"(or clone it from a checkout that has one), or point HIT_SHARED_DIR at it"
        )
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``shared/data/sot``: nine real sequences with ground truth."""
    return _require(DATA_DIR)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """``shared/fixtures/official_parity``: vectors produced by the official HiT code."""
    return _require(PARITY_DIR)


@pytest.fixture(scope="session")
def fixture_weights(parity_dir: Path) -> ModuleType:
    """The parity fixtures' numpy weight generator (``fixture_weights.py``), imported from its file."""
    spec = importlib.util.spec_from_file_location("hit_fixture_weights", parity_dir / "fixture_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fixture_state_dict(parity_dir: Path, fixture_weights: ModuleType) -> Callable[[str], dict]:
    """``fixture_state_dict(variant)`` -> the fixtures' deterministic weights (not a trained model) as a complete
    checkpoint-layout state dict of tensors, in the official key order; built once per variant and session.

    Everything but the ``attention_bias_idxs`` buffers comes from the fixture generator; those are not
    generated, so they are taken from our own tables (their equality with the official tables is tested
    separately by fingerprint).
    """
    import torch

    from hit_core.models.levit import attention_bias_index_table

    tables_by_shape = {}
    for sides, stride in (((16, 8), 1), ((16, 8), 2), ((8, 4), 1), ((8, 4), 2), ((4, 2), 1)):
        table, _ = attention_bias_index_table(sides, stride)
        tables_by_shape[table.shape] = table
    cache: dict[str, dict] = {}

    def build(variant: str) -> dict:
        if variant not in cache:
            keys = fixture_weights.load_key_list(str(parity_dir / "keys" / f"hit_{variant}.txt"))
            generated = fixture_weights.make_state_dict(keys, include_bias_idxs=True)
            cache[variant] = {
                key: torch.from_numpy(np.array(tables_by_shape[shape] if value is None else value))
                for (key, shape), value in zip(keys, generated.values())
            }
        return cache[variant]

    return build


@pytest.fixture(scope="session")
def fixture_checkpoint(
    fixture_state_dict: Callable[[str], dict], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """``fixture_checkpoint(variant)`` -> the fixture weights saved in our checkpoint format, once per session."""
    from hit_core.models.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("fixture_checkpoints")

    def build(variant: str) -> Path:
        path = folder / f"hit_{variant}_fixture.pth"
        if not path.exists():
            save_checkpoint(path, fixture_state_dict(variant), variant=variant)
        return path

    return build
