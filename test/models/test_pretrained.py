"""ImageNet LeViT initialisation from a local file."""

from __future__ import annotations

import pytest

from hit_core.errors import CheckpointError


def _levit_file(tmp_path, variant: str):
    """A file laid out like the LeViT release ({'model': ...}, classifier included), random values."""
    import torch

    from hit_core.models import create_model

    generator = torch.Generator().manual_seed(3)
    body = {key.removeprefix("backbone.body."): value for key, value in create_model(variant).state_dict().items()
            if key.startswith("backbone.body.")}
    model = {key: (torch.randn(value.shape, generator=generator) if value.is_floating_point() else value)
             for key, value in body.items()}
    model["head.l.weight"] = torch.randn(1000, 384, generator=generator)
    path = tmp_path / f"levit_{variant}.pth"
    torch.save({"model": model, "epoch": 999}, path)
    return path, model


def test_copies_every_backbone_tensor_except_attention_bias(tmp_path):
    import torch

    from hit_core.models import create_model
    from hit_core.models.pretrained import load_imagenet_levit

    path, levit = _levit_file(tmp_path, "tiny")
    model = create_model("tiny")
    untouched = {key: value.clone() for key, value in model.state_dict().items()
                 if not key.startswith("backbone.body.") or "attention_bias" in key}
    loaded = load_imagenet_levit(model, path)
    expected = sorted(f"backbone.body.{key}" for key in levit if "attention_bias" not in key and key != "head.l.weight")
    assert loaded == expected
    state = model.state_dict()
    assert all(torch.equal(state[key], levit[key.removeprefix("backbone.body.")]) for key in loaded)
    assert all(torch.equal(state[key], value) for key, value in untouched.items())
    assert torch.count_nonzero(model.backbone.body.blocks[0].m.attention_biases) == 0


def test_refuses_the_levit_of_another_variant_and_unrelated_files(tmp_path):
    import torch

    from hit_core.models import create_model
    from hit_core.models.pretrained import load_imagenet_levit

    path, _ = _levit_file(tmp_path, "small")
    with pytest.raises(CheckpointError, match=r"not the ImageNet LeViT of HiT-tiny \(expected LeViT-128S-96703c44"):
        load_imagenet_levit(create_model("tiny"), path)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"model": {"fc.weight": torch.ones(2, 2)}}, unrelated)
    with pytest.raises(CheckpointError, match="no LeViT backbone weights"):
        load_imagenet_levit(create_model("tiny"), unrelated)
    with pytest.raises(CheckpointError, match="before fuse"):
        load_imagenet_levit(create_model("tiny", fuse=True), unrelated)
