"""Pair sampling: frame windows, visibility, source weighting and still pairs, on the shared sequences."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.errors import DatasetError
from hit_core.train.config import DatasetSpec, SamplingConfig
from hit_core.train.sampler import PairSampler, PairSource, build_source, causal_frames, random_box, valid_frames


def test_causal_frames_stay_visible_ordered_and_within_the_interval():
    rng = np.random.default_rng(0)
    valid = rng.random(300) > 0.3
    visible = set(np.flatnonzero(valid))
    for _ in range(500):
        template, search = causal_frames(valid, 20, rng)
        assert template in visible and search in visible
        assert template < search < template + 20


def test_causal_window_widens_over_a_long_invisible_stretch():
    valid = np.zeros(200, dtype=bool)
    valid[[0, 1, 150]] = True
    rng = np.random.default_rng(1)
    pairs = {causal_frames(valid, 10, rng) for _ in range(200)}
    assert pairs <= {(0, 1), (1, 150), (0, 150)}
    assert (1, 150) in pairs, "the window never widened to reach the next visible frame"


def test_valid_frames_combines_visibility_and_box_sanity(shared_sequences):
    from dataclasses import replace

    sequence = shared_sequences["OTB100/Jogging"]
    boxes = sequence.ground_truth.copy()
    boxes[3] = np.nan
    boxes[4, 2] = 0
    visible = np.ones(len(boxes), dtype=bool)
    visible[5] = False
    marked = replace(sequence, ground_truth=boxes, visible=visible)
    valid = valid_frames(marked)
    assert not valid[3] and not valid[4] and not valid[5] and valid[6]


def _spec(data_dir, **fields) -> DatasetSpec:
    return DatasetSpec(loader="folder", root=str(data_dir), **fields)


def test_sources_filter_short_sequences_and_select_by_name(data_dir):
    sampling = SamplingConfig(min_frames=200)
    source = build_source("all", _spec(data_dir), sampling)
    lengths = [len(source.sequence(i)) for i in range(len(source))]
    assert lengths and min(lengths) >= 200 and len(source) < 9
    chosen = build_source("two", _spec(data_dir, sequences=["OTB100/Dog", "VOT/bag"]), SamplingConfig())
    assert sorted(chosen.sequence(i).name for i in range(len(chosen))) == ["OTB100/Dog", "VOT/bag"]
    with pytest.raises(DatasetError, match="did you mean OTB100/Dog"):
        build_source("typo", _spec(data_dir, sequences=["OTB100/Dgo"]), SamplingConfig())
    with pytest.raises(DatasetError, match="min_frames"):
        build_source("none", _spec(data_dir), SamplingConfig(min_frames=10_000))


def test_ratios_weight_the_sources_and_pairs_match_the_ground_truth(data_dir):
    sampling = SamplingConfig(max_interval=30)
    dog = build_source("dog", _spec(data_dir, sequences=["OTB100/Dog"], ratio=3.0), sampling)
    bag = build_source("bag", _spec(data_dir, sequences=["VOT/bag"], ratio=1.0), sampling)
    sampler = PairSampler([dog, bag], sampling)
    rng = np.random.default_rng(7)
    draws = [sampler.sample(rng) for _ in range(40)]
    share = np.mean([pair.source == "dog" for pair in draws])
    assert 0.55 < share < 0.95
    sequences = {"dog": dog.sequence(0), "bag": bag.sequence(0)}
    for pair in draws:
        sequence = sequences[pair.source]
        assert pair.template_frame < pair.search_frame < pair.template_frame + 30
        np.testing.assert_array_equal(pair.search_box, sequence.ground_truth[pair.search_frame])
        assert pair.search_image.shape == sequence.frame(pair.search_frame).shape


def test_same_generator_state_gives_the_same_pair(data_dir):
    sampling = SamplingConfig()
    sampler = PairSampler([build_source("s", _spec(data_dir), sampling)], sampling)
    first = sampler.sample(np.random.default_rng([1, 2, 3]))
    second = sampler.sample(np.random.default_rng([1, 2, 3]))
    assert (first.sequence, first.template_frame, first.search_frame) == (
        second.sequence, second.template_frame, second.search_frame
    )


def test_still_pairs_use_one_frame_and_random_boxes_inside_it(data_dir):
    sampling = SamplingConfig(random_box_scale=[0.05, 0.3], random_box_aspect=2.0)
    source = build_source("still", _spec(data_dir, mode="still", still_box="random"), sampling)
    assert source.usable is None and len(source) == 9
    sampler = PairSampler([source], sampling)
    rng = np.random.default_rng(3)
    for _ in range(6):
        pair = sampler.sample(rng)
        assert pair.template_frame == pair.search_frame and pair.template_image is pair.search_image
        height, width = pair.template_image.shape[:2]
        x, y, w, h = pair.template_box
        assert 0 <= x and 0 <= y and x + w <= width + 1e-9 and y + h <= height + 1e-9
        scale = np.sqrt(w * h / (width * height))
        assert 0.05 * 0.7 <= scale <= 0.3 * 1.01
        assert 1 / 2.01 <= w / h <= 2.01 or w >= width or h >= height


def test_random_box_sizes_are_log_uniform():
    rng = np.random.default_rng(0)
    sampling = SamplingConfig(random_box_scale=[0.01, 0.5], random_box_aspect=1.0)
    sides = np.array([random_box((1000, 1000, 3), sampling, rng)[2] for _ in range(3000)]) / 1000
    np.testing.assert_allclose(np.log(sides).mean(), (np.log(0.01) + np.log(0.5)) / 2, atol=0.05)


def test_sampler_refuses_no_sources():
    with pytest.raises(DatasetError, match="positive ratio"):
        PairSampler([], SamplingConfig())


def test_pair_source_len_counts_only_usable_sequences(shared_sequences):
    sequences = list(shared_sequences.values())
    source = PairSource("x", DatasetSpec(), sequences, np.array([2, 5]))
    assert len(source) == 2 and source.sequence(1) is sequences[5]
