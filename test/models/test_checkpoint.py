"""Safe checkpoint reading (never runs pickled code), saving, resolving and variant checks."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest

from hit_core.errors import CheckpointError


class _RunsShellCommand:
    """Unpickling this with a plain unpickler would run ``touch <target>``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class _RunsPython:
    """Unpickling this with a plain unpickler would create ``target`` through exec."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return exec, (f"open({str(self.target)!r}, 'w').write('pwned')",)


def test_official_training_checkpoint_loads_safely(parity_dir, fixture_state_dict):
    import torch

    from hit_core.models.checkpoint import ForeignObject, load_state_dict, read_checkpoint

    path = parity_dir / "official_style_checkpoint.pth.tar"
    whole = read_checkpoint(path)
    assert list(whole) == ["epoch", "actor_type", "net_type", "net", "net_info", "constructor", "optimizer",
                           "stats", "settings"]
    assert whole["epoch"] == 1500 and whole["net_type"] == "HiT"
    settings = whole["settings"]
    assert isinstance(settings, ForeignObject)
    assert (settings.module, settings.qualname) == ("lib.train.admin.settings", "Settings")
    assert isinstance(whole["stats"]["train"]["IoU"], ForeignObject)
    assert "lib" not in __import__("sys").modules
    weights = load_state_dict(path)
    reference = fixture_state_dict("tiny")
    assert set(weights) == {"backbone.body.patch_embed.0.c.weight", "box_head.conv5_tl.bias",
                            "backbone.body.patch_embed.0.bn.num_batches_tracked"}
    for key in ("backbone.body.patch_embed.0.c.weight", "box_head.conv5_tl.bias"):
        assert weights[key].dtype == torch.float32 and torch.equal(weights[key], reference[key])
    counter = weights["backbone.body.patch_embed.0.bn.num_batches_tracked"]
    assert counter.dtype == torch.int64 and counter.shape == () and int(counter) == 1873125


@pytest.mark.parametrize("payload", [_RunsShellCommand, _RunsPython])
def test_malicious_checkpoints_execute_nothing(payload, tmp_path):
    import torch

    from hit_core.models.checkpoint import ForeignObject, load_state_dict, read_checkpoint

    target = tmp_path / "pwned"
    top_level = tmp_path / "evil_top.pth"
    torch.save({"evil": payload(target)}, top_level)
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_state_dict(top_level)
    beside_weights = tmp_path / "evil_beside.pth"
    torch.save({"net": {"w": torch.ones(2)}, "settings": payload(target)}, beside_weights)
    loaded = read_checkpoint(beside_weights)
    assert isinstance(loaded["settings"], ForeignObject)
    assert torch.equal(load_state_dict(beside_weights)["w"], torch.ones(2))
    plain_pickle = tmp_path / "evil.pkl"
    plain_pickle.write_bytes(pickle.dumps(payload(target), protocol=2))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict(plain_pickle)
    assert not target.exists(), "loading a checkpoint executed code from the pickle"
    pickle.loads(plain_pickle.read_bytes())
    assert target.exists(), "the payload is inert, so this test proves nothing"


def test_unreadable_files_give_clear_errors(tmp_path, official_checkpoint):
    from hit_core.models.checkpoint import load_state_dict

    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="not a file"):
        load_state_dict(tmp_path)
    empty = tmp_path / "empty.pth"
    empty.touch()
    with pytest.raises(CheckpointError, match="empty"):
        load_state_dict(empty)
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_state_dict(text)
    truncated = tmp_path / "truncated.pth"
    data = official_checkpoint("tiny").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(truncated)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict(other_zip)


def test_wrong_variant_names_the_fitting_one(tmp_path, official_checkpoint):
    import torch

    from hit_core.models import create_model

    with pytest.raises(CheckpointError, match=r"does not fit HiT-tiny: the weights fit HiT-small \(use variant "
                                               r"'small'\); first differences: backbone\.body\.blocks\.\d+\.m\.0\.c\.weight: file "):
        create_model("tiny", official_checkpoint("small"))
    foreign = tmp_path / "foreign.pth"
    torch.save({"layer.weight": torch.ones(3)}, foreign)
    with pytest.raises(CheckpointError, match="fit no HiT variant.*missing backbone.body.patch_embed.0.c.weight"):
        create_model("base", foreign)


def test_foreign_index_tables_are_refused(fixture_state_dict):
    from hit_core.models import create_model
    from hit_core.models.checkpoint import load_into

    weights = dict(fixture_state_dict("tiny"))
    key = "backbone.body.blocks.0.m.attention_bias_idxs"
    weights[key] = weights[key].flip(0)
    with pytest.raises(CheckpointError, match="differs from the official attention index table"):
        load_into(create_model("tiny"), weights)


def test_save_and_reload_round_trip(tmp_path, fixture_state_dict, official_checkpoint):
    import torch

    from hit_core.models import create_model, load_state_dict, read_checkpoint, save_checkpoint

    reference = fixture_state_dict("tiny")
    full = save_checkpoint(tmp_path / "sub" / "full.pth", reference, variant="HiT-Tiny", extra={"epoch": 7})
    half = save_checkpoint(tmp_path / "sub" / "half.pth", reference, variant="tiny", half=True)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["full.pth", "half.pth"]
    whole = read_checkpoint(full)
    assert (whole["variant"], whole["format"], whole["epoch"]) == ("tiny", "hit_ros.checkpoint/1", 7)
    assert all(torch.equal(value, reference[key]) for key, value in load_state_dict(full).items())
    assert half.stat().st_size < 0.6 * full.stat().st_size
    restored = load_state_dict(half)
    assert all(value.dtype == reference[key].dtype for key, value in restored.items())
    torch.testing.assert_close(restored["bottleneck.proj1.weight"], reference["bottleneck.proj1.weight"],
                               rtol=1e-3, atol=1e-4)
    assert not create_model("tiny", half).training
    ddp = tmp_path / "ddp.pth"
    torch.save({f"module.{key}": value for key, value in reference.items()}, ddp)
    assert list(load_state_dict(ddp)) == list(reference)


def test_save_checkpoint_validates_its_input(tmp_path):
    import torch

    from hit_core.errors import ConfigError
    from hit_core.models import save_checkpoint

    with pytest.raises(CheckpointError, match="reserved"):
        save_checkpoint(tmp_path / "a.pth", {"w": torch.ones(1)}, variant="tiny", extra={"net": 1})
    with pytest.raises(CheckpointError, match="not a tensor"):
        save_checkpoint(tmp_path / "a.pth", {"w": 1.0}, variant="tiny")
    with pytest.raises(ConfigError, match="unknown HiT variant"):
        save_checkpoint(tmp_path / "a.pth", {"w": torch.ones(1)}, variant="huge")
    assert not list(tmp_path.iterdir())


def test_resolve_checkpoint(tmp_path, monkeypatch):
    import hit_core.models.checkpoint as checkpoint

    given = tmp_path / "mine.pth"
    given.write_bytes(b"x")
    assert checkpoint.resolve_checkpoint(given, "tiny") == given
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.resolve_checkpoint(tmp_path / "nope.pth", "tiny")
    monkeypatch.setattr(checkpoint, "ASSETS_DIR", tmp_path)
    assert checkpoint.resolve_checkpoint(None, "small") is None
    bundled = tmp_path / "hit_small.pth"
    bundled.write_bytes(b"x")
    assert checkpoint.resolve_checkpoint(None, "HiT-Small") == bundled
    assert checkpoint.resolve_checkpoint("", "small") == bundled
