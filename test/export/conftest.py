"""Shared fixtures for the export/runtime tests: Tiny fixture weights as a checkpoint, graphs, real crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(fixture_checkpoint) -> Path:
    """The parity fixtures' deterministic HiT-Tiny weights in our checkpoint format."""
    return fixture_checkpoint("tiny")


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    """HiT-Tiny (eval mode) holding the parity fixtures' deterministic weights."""
    from hit_core.models import create_model

    return create_model("tiny", tiny_checkpoint)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One graph cache for the whole session (building graphs takes seconds)."""
    return tmp_path_factory.mktemp("hit_cache")


@pytest.fixture(scope="session")
def tiny_network_graph(tiny_model):
    """The exported network graph of the fixture model (onnx.ModelProto)."""
    import copy

    from hit_core.export.onnx_export import export_network_graph

    return export_network_graph(copy.deepcopy(tiny_model), checkpoint_sha256="fixture")


@pytest.fixture(scope="session")
def parity_inputs(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "inputs.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def tiny_reference(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "variant_tiny.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def crossing_dir(data_dir: Path) -> Path:
    return data_dir / "OTB100" / "Crossing"
