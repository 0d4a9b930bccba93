"""End-to-end training on the shared sequences (CPU): learning, exact resume, checkpoints, CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from hit_core.cli import main
from hit_core.errors import ConfigError
from hit_core.train.checkpoint import check_resumable, read_training_state, save_training_state
from hit_core.train.config import load_config
from hit_core.train.logs import read_metrics
from hit_core.train.trainer import build_model, build_optimizer, train


def _overrides(data_dir, run_dir, *extra):
    return [
        f"data.train.sequences.root={data_dir}",
        f"data.train.stills.root={data_dir}",
        f"data.val.sequences.root={data_dir}",
        f"train.output_dir={run_dir}",
        "train.num_workers=0",
        *extra,
    ]


def _config(repo_root, data_dir, run_dir, *extra):
    return load_config(repo_root / "training" / "shared_data_smoke.yaml", _overrides(data_dir, run_dir, *extra))


def _train_rows(run_dir):
    return [(row["epoch"], row["step"], row["loss"], row["giou"], row["l1"], row["iou"])
            for row in read_metrics(run_dir / "metrics.csv") if row["split"] == "train"]


@pytest.mark.slow
def test_hit_train_learns_on_a_shared_sequence(repo_root, data_dir, tmp_path):
    """12 steps of `hit train` on OTB100/Car4 with little jitter: the loss falls and the boxes start to overlap."""
    run_dir = tmp_path / "learn"
    args = ["train", str(repo_root / "training" / "shared_data_smoke.yaml"), *_overrides(data_dir, run_dir),
            "data.train.sequences.sequences=[OTB100/Car4]", "data.train.stills.ratio=0",
            "processing.search_center_jitter=0.5", "processing.search_scale_jitter=0.1", "augment.flip_prob=0",
            "optim.lr=1e-3", "train.epochs=3", "train.samples_per_epoch=16", "train.batch_size=4",
            "train.log_interval=1", "validation.samples=0", "train.tensorboard=false", "--no-progress"]
    assert main(args) == 0
    rows = [row for row in read_metrics(run_dir / "metrics.csv") if row["split"] == "train"]
    assert len(rows) == 12
    losses = [float(row["loss"]) for row in rows]
    ious = [float(row["iou"]) for row in rows]
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.85 * first, f"loss did not fall: {losses}"
    assert sum(ious[-4:]) / 4 > sum(ious[:4]) / 4 + 0.05, f"IoU did not rise: {ious}"


RESUME = ("train.samples_per_epoch=4", "train.batch_size=2", "train.log_interval=1", "validation.samples=2",
          "validation.interval=1", "train.checkpoint_interval=2", "train.keep_last_epochs=0")


@pytest.mark.slow
def test_resumed_run_repeats_the_uninterrupted_run_exactly(repo_root, data_dir, tmp_path):
    straight = tmp_path / "straight"
    train(_config(repo_root, data_dir, straight, *RESUME, "train.epochs=3"), progress=False)
    split = tmp_path / "split"
    first = train(_config(repo_root, data_dir, split, *RESUME, "train.epochs=1", "validation.samples=0"),
                  progress=False)
    assert first.epoch == 1 and first.step == 2
    recipe = str(repo_root / "training" / "shared_data_smoke.yaml")
    assert main(["train", recipe, *_overrides(data_dir, split), *RESUME, "train.epochs=3", "--resume",
                 "--no-progress"]) == 0
    assert _train_rows(split) == _train_rows(straight)
    assert len(_train_rows(straight)) == 6
    a = read_training_state(straight / "checkpoints" / "last.pth")
    b = read_training_state(split / "checkpoints" / "last.pth")
    assert (b["epoch"], b["step"]) == (3, 6)
    assert a["net"].keys() == b["net"].keys()
    for key in a["net"]:
        assert torch.equal(a["net"][key], b["net"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg_sq"], b["optimizer"]["state"][index]["exp_avg_sq"])
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["epoch_0002.pth", "epoch_0003.pth",
                                                                           "last.pth"]


def test_checkpoint_holds_the_run_and_loads_into_the_tracker(repo_root, data_dir, tmp_path):
    run_dir = tmp_path / "run"
    config = _config(repo_root, data_dir, run_dir, "train.epochs=1", "train.samples_per_epoch=2",
                     "train.batch_size=2", "validation.samples=0")
    result = train(config, progress=False)
    state = read_training_state(result.last_checkpoint)
    assert state["variant"] == "tiny" and state["format"] == "hit_ros.checkpoint/1"
    assert state["epoch"] == 1 and state["step"] == 1 and state["seed"] == config.train.seed
    assert state["config"] == config.to_dict() and state["world_size"] == 1
    assert {"python", "torch", "numpy", "opencv", "hit_core"} <= set(state["versions"])
    assert "git_revision" in state and "git_dirty" in state
    from hit_core.models import create_model
    from hit_core.tracking import Tracker

    model = create_model("tiny", checkpoint=result.last_checkpoint)
    assert not model.training
    tracker = Tracker.from_options(variant="tiny", checkpoint=str(result.last_checkpoint), backend="torch")
    from hit_core.data import load_dataset

    sequence = next(s for s in load_dataset("folder", data_dir) if s.name == "OTB100/Crossing")
    tracker.initialize(sequence.frame(0), tuple(sequence.ground_truth[0]))
    assert tracker.track(sequence.frame(1)).box.shape == (4,)
    rows = read_metrics(run_dir / "metrics.csv")
    assert [row["split"] for row in rows] == ["train"] and float(rows[0]["pairs_per_s"]) > 0
    assert any((run_dir / "tensorboard").iterdir())


def test_backbone_starts_from_the_imagenet_levit_file_without_its_attention_biases(repo_root, data_dir, tmp_path):
    from hit_core.models import create_model

    body = {key.removeprefix("backbone.body."): value for key, value in create_model("tiny").state_dict().items()
            if key.startswith("backbone.body.")}
    generator = torch.Generator().manual_seed(0)
    levit = {key: torch.randn(value.shape, generator=generator) if value.is_floating_point() else value
             for key, value in body.items()}
    levit["head.l.weight"] = torch.randn(1000, 384)
    torch.save({"model": levit}, tmp_path / "LeViT-128S-96703c44.pth")
    config = _config(repo_root, data_dir, tmp_path, "validation.samples=0", "model.backbone_init=imagenet",
                     f"model.pretrained_backbone={tmp_path / 'LeViT-128S-96703c44.pth'}")
    weights = build_model(config, torch.device("cpu")).state_dict()
    assert torch.equal(weights["backbone.body.patch_embed.0.c.weight"], levit["patch_embed.0.c.weight"])
    assert torch.equal(weights["backbone.body.blocks.0.m.qkv.bn.running_var"], levit["blocks.0.m.qkv.bn.running_var"])
    biases = [key for key in weights if key.endswith("attention_biases")]
    assert biases and all(not weights[key].any() for key in biases)


def test_a_crash_while_saving_keeps_the_last_good_checkpoint(repo_root, data_dir, tmp_path, monkeypatch):
    config = _config(repo_root, data_dir, tmp_path, "validation.samples=0", "train.epochs=2")
    model = build_model(config, torch.device("cpu"))
    optimizer, scheduler = build_optimizer(model, config)
    last = save_training_state(tmp_path, model, "tiny", 1, 5, optimizer, scheduler, None, config, 1)
    good = last.read_bytes()

    def crash(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_training_state(tmp_path, model, "tiny", 2, 10, optimizer, scheduler, None, config, 1)
    assert last.read_bytes() == good
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pth"]


def test_resume_refuses_a_changed_recipe(repo_root, data_dir, tmp_path):
    config = _config(repo_root, data_dir, tmp_path, "validation.samples=0")
    state = {"config": config.to_dict()}
    changed = _config(repo_root, data_dir, tmp_path, "validation.samples=0", "optim.lr=1e-3", "train.epochs=9",
                      "train.num_workers=3")
    with pytest.raises(ConfigError, match=r"optim.lr \(0.0005 -> 0.001\)"):
        check_resumable(state, changed, "last.pth")
    check_resumable(state, _config(repo_root, data_dir, tmp_path, "validation.samples=0", "train.epochs=9"), "x")


def test_cli_points_at_mistyped_keys_and_prints_the_resolved_recipe(repo_root, data_dir, tmp_path, capsys):
    recipe = str(repo_root / "training" / "shared_data_smoke.yaml")
    assert main(["train", recipe, "train.batchsize=3"]) == 1
    assert "did you mean train.batch_size" in capsys.readouterr().err
    assert main(["train", recipe, *_overrides(data_dir, tmp_path), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert f"root: {data_dir}" in printed and "variant: tiny" in printed


def test_cli_benchmark_reports_pairs_per_second(repo_root, data_dir, tmp_path, capsys):
    recipe = str(repo_root / "training" / "shared_data_smoke.yaml")
    args = ["train", recipe, *_overrides(data_dir, tmp_path), "train.batch_size=2", "--benchmark", "1", "--warmup", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pairs/s with data loading" in out and "compute only" in out
    assert not (tmp_path / "checkpoints").exists()


def test_two_processes_with_torchrun_and_gloo(repo_root, data_dir, tmp_path):
    run_dir = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "hit_core", "train", str(repo_root / "training" / "shared_data_smoke.yaml"),
        *_overrides(data_dir, run_dir), "train.epochs=1", "train.samples_per_epoch=4", "train.batch_size=1",
        "train.log_interval=1", "validation.samples=3", "train.tensorboard=false", "--no-progress",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stderr[-4000:]
    state = read_training_state(run_dir / "checkpoints" / "last.pth")
    assert state["world_size"] == 2 and state["step"] == 2
    rows = read_metrics(run_dir / "metrics.csv")
    assert [row["split"] for row in rows] == ["train", "train", "val"]
    assert all(float(row["loss"]) > 0 for row in rows)
    assert finished.stdout.count("trained to epoch 1") == 1, "only rank 0 reports"
