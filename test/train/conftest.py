"""Fixtures of the training tests: real sequences from shared/data."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def shared_sequences(data_dir):
    """The nine shared sequences by name (``OTB100/Crossing``, ...)."""
    from hit_core.data import load_dataset

    return {sequence.name: sequence for sequence in load_dataset("folder", data_dir)}
