"""Shared helpers for the model tests: the fixture weights as an official training checkpoint, parity inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def official_checkpoint(fixture_state_dict, tmp_path_factory):
    """``official_checkpoint(variant)`` -> a file {"net": fixture weights} like the authors' checkpoints."""
    import torch

    folder = tmp_path_factory.mktemp("official_checkpoints")

    def build(variant: str) -> Path:
        path = folder / f"HiT_{variant}_ep1500.pth.tar"
        if not path.exists():
            torch.save({"net": fixture_state_dict(variant), "epoch": 1500}, path)
        return path

    return build


@pytest.fixture(scope="session")
def parity_inputs(parity_dir: Path):
    """The four stored (search, template) pairs as float32 tensors."""
    import torch

    inputs = np.load(parity_dir / "inputs.npz")
    return torch.from_numpy(inputs["search"]), torch.from_numpy(inputs["template"])
