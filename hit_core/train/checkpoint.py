"""Training checkpoints: the model for the tracker plus everything needed to resume exactly.

A file is ``hit_core.models.checkpoint.save_checkpoint``'s format — ``net`` (the unwrapped,
unfused state dict in the official key layout), ``variant``, ``format`` — with the training
state added: ``epoch``, ``step``, ``optimizer``, ``scheduler``, ``scaler``, ``config`` (the
resolved recipe as plain data), ``seed``, ``world_size``, ``git_revision``, ``git_dirty``,
``versions``. Writes are atomic (temporary file + rename), so a crash while saving leaves
the previous file intact.

Run folder layout: ``checkpoints/last.pth`` after every epoch, and
``checkpoints/epoch_NNNN.pth`` every ``checkpoint_interval`` epochs, for the last
``keep_last_epochs`` epochs and for the final one.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from hit_core.errors import CheckpointError, ConfigError
from hit_core.train.config import RESUME_FREE_KEYS, TrainingConfig, differing_keys

LAST = "last.pth"
TRAINING_KEYS = ("epoch", "step", "optimizer", "scheduler", "config", "seed")


def git_state() -> tuple[str | None, bool | None]:
    """(commit hash, has uncommitted changes) of the source tree this package runs from, or (None, None)."""
    source = Path(__file__).resolve().parents[2]
    try:
        revision = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return revision or None, bool(status.strip())


def library_versions() -> dict[str, str]:
    """Versions of the software that determines the numbers of a run."""
    import numpy

    from hit_core import __version__

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "hit_core": __version__,
        "cuda": str(torch.version.cuda),
    }
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        versions["opencv"] = "absent"
    return versions


def epoch_file(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch:04d}.pth"


def last_file(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / LAST


def keeps_epoch(epoch: int, config: TrainingConfig) -> bool:
    """Whether epoch ``epoch`` gets its own ``epoch_NNNN.pth`` file."""
    run = config.train
    return epoch % run.checkpoint_interval == 0 or epoch > run.epochs - run.keep_last_epochs or epoch == run.epochs


def save_training_state(
    run_dir: Path,
    model: torch.nn.Module,
    variant: str,
    epoch: int,
    step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    config: TrainingConfig,
    world_size: int,
) -> Path:
    """Write ``last.pth`` (and ``epoch_NNNN.pth`` when kept) atomically; returns the last file."""
    from hit_core.models.checkpoint import save_checkpoint

    revision, dirty = git_state()
    extra: dict[str, Any] = {
        "epoch": epoch,
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "config": config.to_dict(),
        "seed": config.train.seed,
        "world_size": world_size,
        "git_revision": revision,
        "git_dirty": dirty,
        "versions": library_versions(),
    }
    last = save_checkpoint(last_file(run_dir), model.state_dict(), variant=variant, extra=extra)
    if keeps_epoch(epoch, config):
        _link_or_copy(last, epoch_file(run_dir, epoch))
    return last


def _link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s bytes, atomically (``last.pth`` is later replaced, not rewritten)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def read_training_state(path: str | Path) -> dict[str, Any]:
    """Safely load a training checkpoint and check that it holds the resume state."""
    from hit_core.models.checkpoint import read_checkpoint

    state = read_checkpoint(path)
    missing = [key for key in (*TRAINING_KEYS, "net", "variant") if key not in state]
    if missing:
        raise CheckpointError(
            f"{path} cannot resume training: it lacks {', '.join(missing)} (a weights-only file?); "
            f"use it as model.init_checkpoint to fine-tune from it instead"
        )
    return state


def check_resumable(state: dict[str, Any], config: TrainingConfig, path: str | Path) -> None:
    """Refuse to resume with settings that change the computation (epochs, roots, workers, logging may differ)."""
    changed = [
        key
        for key in differing_keys(state["config"], config.to_dict())
        if not key.startswith(RESUME_FREE_KEYS) and not key.endswith(".root")
    ]
    if changed:
        shown = ", ".join(f"{key} ({_lookup(state['config'], key)!r} -> {_lookup(config.to_dict(), key)!r})"
                          for key in changed[:6])
        raise ConfigError(
            f"cannot resume from {path}: the recipe differs in {shown}; resume with the same settings "
            f"(only train.epochs, data roots, workers, logging and validation may change), or start a new run "
            f"with model.init_checkpoint={path}"
        )


def _lookup(tree: dict, dotted: str) -> Any:
    value: Any = tree
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
