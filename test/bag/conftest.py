"""Short sequences and fixed weights shared by the bag tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHORT_FRAMES = 20


@pytest.fixture(scope="session")
def short_crossing(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """The first frames of the bundled demo sequence, in the folder format ``hit eval`` reads."""
    source = repo_root / "hit_core" / "assets" / "sequences" / "Crossing"
    target = tmp_path_factory.mktemp("sequences") / "Crossing"
    (target / "img").mkdir(parents=True)
    frames = sorted((source / "img").iterdir())[:SHORT_FRAMES]
    for frame in frames:
        shutil.copy(frame, target / "img" / frame.name)
    lines = (source / "groundtruth.txt").read_text(encoding="utf-8").splitlines()[:SHORT_FRAMES]
    (target / "groundtruth.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(source / "attrs.txt", target / "attrs.txt")
    return target


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HiT-Tiny weights from a fixed seed: every consumer in a test loads the same network."""
    torch = pytest.importorskip("torch", reason="HiT weights need PyTorch")
    from hit_core.models import create_model
    from hit_core.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("tiny")
    return save_checkpoint(
        tmp_path_factory.mktemp("weights") / "hit_tiny_seed0.pth", model.state_dict(), variant="tiny"
    )
