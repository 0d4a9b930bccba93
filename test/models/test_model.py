"""create_model, the variant names, fusion and the eval-mode attention-bias cache."""

from __future__ import annotations

import pytest

from hit_core.errors import CheckpointError, ConfigError


@pytest.mark.parametrize("spelling", ["tiny", "Tiny", "hit_tiny", "HiT-Tiny", " HIT TINY ", "hittiny"])
def test_variant_aliases(spelling):
    from hit_core.models import canonical_variant

    assert canonical_variant(spelling) == "tiny"


def test_list_variants_is_torch_free_and_ordered():
    import subprocess
    import sys

    code = ("import sys; from hit_core.models import list_variants; print(list_variants()); "
            "print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split("\n")[:2] == ["['tiny', 'small', 'base']", "False"]


def test_unknown_variant_names_the_choices():
    from hit_core.models import create_model

    with pytest.raises(ConfigError, match=r"unknown HiT variant 'tinny' \(did you mean 'tiny'\?\).*tiny, small, base"):
        create_model("tinny")
    with pytest.raises(ConfigError, match="must be a string"):
        create_model(3)


@pytest.mark.parametrize("device", ["gpu", "cuda:99"])
def test_bad_device_is_a_config_error(device):
    from hit_core.models import create_model

    with pytest.raises(ConfigError, match="device"):
        create_model("tiny", device=device)


def test_fresh_model_trains_and_checkpointed_model_evaluates(official_checkpoint):
    from hit_core.models import create_model

    fresh = create_model("HiT-Small", device="meta")
    assert fresh.training and fresh.variant == "small" and not fresh.fused
    loaded = create_model("tiny", official_checkpoint("tiny"))
    assert not loaded.training and loaded.variant == "tiny"
    assert next(loaded.parameters()).device.type == "cpu"


def test_forward_rejects_wrong_input_shapes():
    import torch

    from hit_core.models import create_model

    model = create_model("tiny").eval()
    with pytest.raises(ConfigError, match=r"template of shape \(B, 3, 128, 128\), got \(1, 3, 256, 256\)"):
        model(torch.zeros(1, 3, 256, 256), torch.zeros(1, 3, 256, 256))
    with pytest.raises(ConfigError, match="search"):
        model(torch.zeros(3, 256, 256), torch.zeros(1, 3, 128, 128))


def test_fuse_is_idempotent_and_removes_backbone_batchnorms(official_checkpoint):
    import torch
    from torch import nn

    from hit_core.models import create_model

    model = create_model("tiny", official_checkpoint("tiny"))
    search, template = torch.randn(1, 3, 256, 256), torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        before = model(search, template)["pred_boxes"]
        model.train()
        assert model.fuse() is model and not model.training
        model.fuse()
        after = model(search, template)["pred_boxes"]
    torch.testing.assert_close(after, before, rtol=0, atol=2e-6)
    backbone_bns = [m for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert not backbone_bns
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.box_head.modules())
    with pytest.raises(CheckpointError, match="fused"):
        from hit_core.models.checkpoint import load_into

        load_into(model, official_checkpoint("tiny"))


def test_eval_bias_cache_follows_device_dtype_and_updates(official_checkpoint):
    import torch

    from hit_core.models import create_model
    from hit_core.models.levit import Attention

    model = create_model("tiny", official_checkpoint("tiny"), fuse=True)
    attention = next(m for m in model.modules() if isinstance(m, Attention))
    search, template = torch.randn(1, 3, 256, 256), torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        model(search, template)
        assert attention.gathered_bias is not None
        model.to(torch.float64)
        assert attention.gathered_bias.dtype == torch.float64
        box64 = model(search.double(), template.double())["pred_boxes"]
        model.to(torch.float32)
        attention.attention_biases.add_(1.0)
        expected = attention.attention_biases[:, attention.attention_bias_idxs]
        torch.testing.assert_close(attention.attention_bias(), expected, rtol=0, atol=0)
        assert not any("gathered" in key for key in model.state_dict())
        model.to("meta")
        assert attention.gathered_bias.device.type == "meta"
        assert model(search.to("meta"), template.to("meta"))["pred_boxes"].device.type == "meta"
    assert box64.dtype == torch.float64


def test_training_mode_gathers_bias_with_gradient(official_checkpoint):
    import torch

    from hit_core.models import create_model

    model = create_model("tiny", official_checkpoint("tiny"))
    model(torch.randn(1, 3, 256, 256), torch.randn(1, 3, 128, 128))
    model.train()
    out = model(torch.randn(2, 3, 256, 256), torch.randn(2, 3, 128, 128))
    out["pred_boxes"].sum().backward()
    gradients = [p.grad for name, p in model.named_parameters() if name.endswith("attention_biases")]
    assert gradients and all(g is not None and torch.count_nonzero(g) > 0 for g in gradients)
    assert all(m.gathered_bias is None for m in model.modules() if hasattr(m, "gathered_bias"))
