"""Shared helpers for the model tests: the fixtures' deterministic official-layout weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def fixture_weights(parity_dir: Path):
    """The fixtures' numpy weight generator (``fixture_weights.py``), imported from its file."""
    spec = importlib.util.spec_from_file_location("hit_fixture_weights", parity_dir / "fixture_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def official_state_dict(parity_dir: Path, fixture_weights):
    """``official_state_dict(variant)`` -> complete checkpoint-layout weights as tensors, official key order.

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
def official_checkpoint(official_state_dict, tmp_path_factory):
    """``official_checkpoint(variant)`` -> a file {"net": fixture weights} like the authors' checkpoints."""
    import torch

    folder = tmp_path_factory.mktemp("official_checkpoints")

    def build(variant: str) -> Path:
        path = folder / f"HiT_{variant}_ep1500.pth.tar"
        if not path.exists():
            torch.save({"net": official_state_dict(variant), "epoch": 1500}, path)
        return path

    return build


@pytest.fixture(scope="session")
def parity_inputs(parity_dir: Path):
    """The four stored (search, template) pairs as float32 tensors."""
    import torch

    inputs = np.load(parity_dir / "inputs.npz")
    return torch.from_numpy(inputs["search"]), torch.from_numpy(inputs["template"])
