"""Paths to the shared test data and fixtures, resolved once for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("HIT_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
DATA_DIR = SHARED_DIR / "data" / "sot"
PARITY_DIR = SHARED_DIR / "fixtures" / "official_parity"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"shared test data not found at {path}; clone the project beside its shared/ folder "
            f"or point HIT_SHARED_DIR at it"
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
