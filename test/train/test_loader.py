"""Keys, sharding and determinism of the training data stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hit_core.train.config import load_config
from hit_core.train.loader import TRAIN_STREAM, EpochSampler, PairDataset, ShardSampler, make_loader
from hit_core.train.processing import PairProcessor
from hit_core.train.sampler import PairSampler, build_sources


def test_processes_share_one_global_stream_without_overlap():
    single = list(EpochSampler(batch_size=6, steps=2))
    ranks = [list(EpochSampler(batch_size=3, steps=2, rank=r, world=2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == sorted(single) == [(0, i) for i in range(12)]
    # step k of rank r holds the slice (k * world + r) * batch ... + batch of the global stream
    assert ranks[1][:3] == [(0, 3), (0, 4), (0, 5)] and ranks[0][3:] == [(0, 6), (0, 7), (0, 8)]
    sampler = EpochSampler(batch_size=2, steps=1)
    sampler.set_epoch(5)
    assert list(sampler) == [(5, 0), (5, 1)] and len(sampler) == 2


def test_validation_shards_cover_every_sample_once():
    shards = [list(ShardSampler(7, rank, 3)) for rank in range(3)]
    assert sorted(index for shard in shards for _, index in shard) == list(range(7))
    assert len(ShardSampler(7, 2, 3)) == 2


@pytest.fixture(scope="module")
def dataset(repo_root, data_dir):
    config = load_config(repo_root / "training" / "shared_data_smoke.yaml",
                         [f"data.train.sequences.root={data_dir}", f"data.train.stills.root={data_dir}"])
    sources = build_sources(config.data.train, config.data.sampling)
    return PairDataset(PairSampler(sources, config.data.sampling), PairProcessor(config), seed=3, stream=TRAIN_STREAM)


def test_a_pair_is_a_function_of_its_key(dataset):
    first, again, other = dataset[(2, 5)], dataset[(2, 5)], dataset[(3, 5)]
    for key in ("template", "search", "template_box", "search_box"):
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first["search"], other["search"])
    assert first["search"].shape == (3, 256, 256) and first["template"].shape == (3, 128, 128)
    assert first["search_box"].dtype == torch.float32 and np.isfinite(first["search_box"].numpy()).all()


def test_batches_do_not_depend_on_the_number_of_workers(dataset):
    batches = []
    for workers in (0, 2):
        sampler = EpochSampler(batch_size=2, steps=2)
        sampler.set_epoch(1)
        batches.append(list(make_loader(dataset, sampler, 2, workers, pin_memory=False)))
    for in_process, in_workers in zip(*batches, strict=True):
        assert torch.equal(in_process["search"], in_workers["search"])
        assert torch.equal(in_process["search_box"], in_workers["search_box"])
