"""Recipe loading: the shipped recipes, overrides, typos, roots from the environment, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from hit_core.errors import ConfigError
from hit_core.train.config import (
    TrainingConfig,
    apply_override,
    config_keys,
    differing_keys,
    load_config,
    output_dir,
)

PAPER = {"hit_tiny.yaml": "tiny", "hit_small.yaml": "small", "hit_base.yaml": "base"}
ROOTS = {"HIT_LASOT_ROOT": "/d/lasot", "HIT_GOT10K_ROOT": "/d/got", "HIT_COCO_ROOT": "/d/coco",
         "HIT_TRACKINGNET_ROOT": "/d/tn"}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_recipes_follow_the_spec(repo_root, name):
    config = load_config(repo_root / "training" / name, ["model.pretrained_backbone=/w/levit.pth"], environ=ROOTS)
    assert config.model.variant == PAPER[name]
    assert {spec.loader for spec in config.data.train.values()} == {"lasot", "got10k", "coco", "trackingnet"}
    assert {spec.ratio for spec in config.data.train.values()} == {1.0}
    assert config.data.train["got10k"].split == "vottrain" and config.data.val["got10k"].split == "votval"
    assert config.data.train["coco"].mode == "still"
    assert (config.train.epochs, config.train.samples_per_epoch, config.train.batch_size) == (1500, 60000, 32)
    optim = config.optim
    assert (optim.lr, optim.weight_decay, optim.lr_drop_epoch, optim.lr_drop_gamma, optim.grad_clip_norm) == (
        5e-4, 1e-4, 1200, 0.1, 0.1)
    assert (config.loss.giou_weight, config.loss.l1_weight) == (2.0, 5.0)
    p = config.processing
    assert (p.search_factor, p.template_factor, p.search_scale_jitter, p.search_center_jitter) == (4.0, 2.0, 0.5, 3.5)
    assert (config.validation.samples, config.validation.interval) == (10000, 20)
    assert config.data.train["lasot"].root == str(Path("/d/lasot").resolve())
    assert not config.loss.giou_drop_batch_on_degenerate
    assert not config.augment.independent_template_search_flip


def test_paper_recipe_needs_the_imagenet_file_and_the_roots(repo_root):
    with pytest.raises(ConfigError, match="model.pretrained_backbone"):
        load_config(repo_root / "training" / "hit_tiny.yaml", environ=ROOTS)
    with pytest.raises(ConfigError, match="HIT_LASOT_ROOT"):
        load_config(repo_root / "training" / "hit_tiny.yaml", ["model.backbone_init=scratch"], environ={})


def test_small_recipes_point_at_the_shared_data(repo_root, data_dir):
    smoke = load_config(repo_root / "training" / "shared_data_smoke.yaml")
    # The recipes name ../shared beside the repository; a throw-away clone elsewhere finds the data through its
    # origin (test/conftest.py), so there the recipe's own location is what can be checked.
    beside = repo_root.parent / "shared" / "data" / "sot"
    expected = data_dir.resolve() if beside.is_dir() else beside.resolve()
    assert Path(smoke.data.train["sequences"].root) == expected
    demo = load_config(repo_root / "training" / "demo_tiny.yaml")
    train_names = {n for spec in demo.data.train.values() for n in spec.sequences}
    val_names = {n for spec in demo.data.val.values() for n in spec.sequences}
    assert len(train_names) == 6 and len(val_names) == 3 and not train_names & val_names
    assert "UAV123_10fps/wakeboard7" in val_names
    assert {"still", "video"} <= {spec.mode for spec in demo.data.train.values()}


def test_overrides_parse_yaml_values_and_numbers_without_a_dot():
    config = TrainingConfig()
    for assignment in ("optim.lr=2e-3", "train.batch_size=4", "augment.flip_prob=0", "model.variant=HiT",
                       "loss.giou_drop_batch_on_degenerate=true", "augment.blur_sigma=[0.5, 1.5]"):
        if assignment == "model.variant=HiT":
            with pytest.raises(ConfigError, match="not one of tiny, small, base"):
                apply_override(config, assignment)
            continue
        apply_override(config, assignment)
    assert config.optim.lr == 2e-3 and config.train.batch_size == 4 and config.augment.flip_prob == 0.0
    assert config.loss.giou_drop_batch_on_degenerate and config.augment.blur_sigma == [0.5, 1.5]
    apply_override(config, "still_augment.contrast=0.3")
    assert config.still_augment.contrast == 0.3 and config.augment.contrast == 0.0


def test_mistyped_keys_and_values_get_a_suggestion(repo_root):
    config = load_config(repo_root / "training" / "shared_data_smoke.yaml")
    with pytest.raises(ConfigError, match="did you mean train.batch_size"):
        apply_override(config, "train.batchsize=8")
    with pytest.raises(ConfigError, match="did you mean data.train.sequences.ratio"):
        apply_override(config, "data.train.sequences.ration=2")
    with pytest.raises(ConfigError, match="did you mean bf16"):
        apply_override(config, "optim.precision=bf61")
    with pytest.raises(ConfigError, match="must be an integer"):
        apply_override(config, "train.epochs=many")
    with pytest.raises(ConfigError, match="key=value"):
        apply_override(config, "train.epochs")
    assert "data.train.stills.still_box" in config_keys(config)


def test_unknown_keys_in_a_file_are_refused(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model:\n  variant: tiny\n  backbone_int: scratch\n")
    with pytest.raises(ConfigError, match="did you mean backbone_init"):
        load_config(recipe)


def test_relative_paths_follow_where_they_were_written(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipe = folder / "mine.yaml"
    recipe.write_text(
        "model: {backbone_init: scratch}\n"
        "data:\n  train:\n    clips: {loader: folder, root: ../footage}\n"
        "validation: {samples: 0}\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(recipe, ["model.init_checkpoint=weights/start.pth"])
    assert config.data.train["clips"].root == str((tmp_path / "footage").resolve())
    assert Path(config.model.init_checkpoint) == Path("weights/start.pth").resolve()
    assert output_dir(config) == tmp_path / "runs" / "mine"


def test_validation_catches_inconsistent_values(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: {backbone_init: scratch}\ndata:\n  train:\n    c: {loader: coco, root: /x}\n")
    with pytest.raises(ConfigError, match="mode=still"):
        load_config(recipe)
    recipe.write_text("model: {backbone_init: scratch}\ndata:\n  train:\n    c: {loader: folder, root: /x}\n")
    with pytest.raises(ConfigError, match="data.val has no entry"):
        load_config(recipe)
    with pytest.raises(ConfigError, match="samples_per_epoch"):
        load_config(recipe, ["validation.samples=0", "train.samples_per_epoch=4", "train.batch_size=8"])


def test_differing_keys_lists_nested_changes():
    a, b = TrainingConfig().to_dict(), TrainingConfig().to_dict()
    b["optim"]["lr"] = 1.0
    b["train"]["epochs"] = 3
    assert differing_keys(a, b) == ["optim.lr", "train.epochs"]


def test_unknown_loader_is_refused_with_a_suggestion(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {backbone_init: scratch}\nvalidation: {samples: 0}\n"
                      "data:\n  train:\n    a: {loader: lasott, root: /x}\n")
    with pytest.raises(ConfigError, match="did you mean lasot"):
        load_config(recipe)
