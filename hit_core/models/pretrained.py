"""ImageNet LeViT initialisation of the HiT backbone (spec section 8), from a local file only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hit_core.errors import CheckpointError

if TYPE_CHECKING:
    from hit_core.models.hit import HiT

BODY_PREFIX = "backbone.body."


def load_imagenet_levit(model: "HiT", path: str | Path) -> list[str]:
    """Copy the ImageNet LeViT weights of ``path`` into the backbone of an unfused ``model``, in place.

    ``path`` is the official LeViT release file (a dict whose ``model`` holds the weights, e.g.
    ``LeViT-128S-96703c44.pth`` for HiT-Tiny; a plain state dict works too). Every LeViT key that exists in the
    HiT body is copied, except the attention-bias tables and index buffers (HiT keeps its own, zero tables
    and dual-image indices); classifier heads are ignored. Returns the HiT keys that were loaded.
    Raises CheckpointError if the file is unreadable, matches nothing, or is the LeViT of another variant.
    """
    import torch

    from hit_core.models.checkpoint import read_checkpoint
    from hit_core.models.registry import get_variant

    if model.fused:
        raise CheckpointError("load the ImageNet weights before fuse(): the fused model has no BN layers")
    expected_file = get_variant(model.variant).imagenet_weights
    loaded = read_checkpoint(path)
    weights = loaded["model"] if isinstance(loaded.get("model"), dict) else loaded
    own = model.state_dict()
    selected: dict[str, torch.Tensor] = {}
    mismatched = []
    for key, value in weights.items():
        target = BODY_PREFIX + str(key)
        if "attention_bias" in str(key) or target not in own or not isinstance(value, torch.Tensor):
            continue
        if tuple(value.shape) != tuple(own[target].shape):
            mismatched.append(f"{key}: file {list(value.shape)} vs HiT-{model.variant} {list(own[target].shape)}")
            continue
        selected[target] = value
    if mismatched:
        raise CheckpointError(f"{path} is not the ImageNet LeViT of HiT-{model.variant} (expected {expected_file}); "
                              f"first mismatches: {'; '.join(mismatched[:3])}")
    if not selected:
        raise CheckpointError(f"{path} contains no LeViT backbone weights (expected {expected_file}, a dict whose "
                              f"'model' holds keys such as patch_embed.0.c.weight)")
    model.load_state_dict(selected, strict=False)
    return sorted(selected)
