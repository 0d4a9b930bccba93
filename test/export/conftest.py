"""Shared fixtures for the export/runtime tests: Tiny fixture weights as a checkpoint, graphs, real crops."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_model(parity_dir: Path):
    """HiT-Tiny (eval mode) holding the parity fixtures' deterministic weights."""
    import torch

    from hit_core.models import create_model

    spec = importlib.util.spec_from_file_location("hit_export_fixture_weights", parity_dir / "fixture_weights.py")
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    generated = weights.make_state_dict(weights.load_key_list(str(parity_dir / "keys" / "hit_tiny.txt")))
    model = create_model("tiny")
    state = model.state_dict()
    state.update({key: torch.from_numpy(np.asarray(value)) for key, value in generated.items()})
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model, tmp_path_factory) -> Path:
    """The fixture weights saved in our checkpoint format."""
    from hit_core.models import save_checkpoint

    path = tmp_path_factory.mktemp("checkpoints") / "hit_tiny_fixture.pth"
    save_checkpoint(path, tiny_model.state_dict(), variant="tiny")
    return path


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
