"""Crops, labels and augmentations on real frames: the label box must sit on the target in the crop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from train_helpers import box_patch, denormalize, inside

from hit_core.tracking.crop import crop_window
from hit_core.train.config import AugmentConfig, TrainingConfig
from hit_core.train.processing import (
    SEARCH_SIZE,
    TEMPLATE_SIZE,
    PairProcessor,
    box_in_crop,
    cut,
    feature_mask,
    flip_crop,
    jitter_box,
)
from hit_core.train.sampler import RawPair

SEQUENCES = ["OTB100/Crossing", "UAV123_10fps/wakeboard7", "OTB100/Car4", "LaSOT/airplane-1_first600", "VOT/bag"]


def _frame(shared_sequences, name):
    sequence = shared_sequences[name]
    index = len(sequence) // 2
    return sequence.frame(index), sequence.ground_truth[index]


@pytest.mark.parametrize("name", SEQUENCES)
def test_search_label_box_covers_the_target_in_the_crop(shared_sequences, name):
    image, gt = _frame(shared_sequences, name)
    reference = box_patch(image, gt)
    compared = 0
    for seed in range(24):
        result = cut(image, gt, 4.0, SEARCH_SIZE, 0.5, 3.5, np.random.default_rng(seed))
        if result is None:
            continue
        crop, box = result
        pixels = box * SEARCH_SIZE
        if not inside(pixels, SEARCH_SIZE):
            continue
        error = np.abs(box_patch(crop, pixels) - reference).mean()
        shifted = pixels + np.array([0.2 * pixels[2], 0, 0, 0])
        wrong = np.abs(box_patch(crop, shifted) - reference).mean()
        assert error < 10, f"seed {seed}: crop under the label differs from the target by {error:.1f} grey levels"
        assert error < wrong, f"seed {seed}: a box shifted by 20% of its width matches better ({wrong:.1f})"
        flipped_crop, flipped_box = flip_crop(crop, box)
        flipped_error = np.abs(
            box_patch(np.ascontiguousarray(flipped_crop), flipped_box * SEARCH_SIZE) - reference[:, ::-1]
        ).mean()
        assert flipped_error < 10, f"seed {seed}: mirrored crop and mirrored box disagree ({flipped_error:.1f})"
        compared += 1
    assert compared >= 8, "too few jittered crops kept the target inside; the jitter draws look wrong"


def test_template_crop_is_centred_and_exact_without_jitter(shared_sequences):
    image, gt = _frame(shared_sequences, "OTB100/Crossing")
    crop, box = cut(image, gt, 2.0, TEMPLATE_SIZE, 0.0, 0.0, np.random.default_rng(0))
    side = crop_window(gt, 2.0)[2]
    scale = TEMPLATE_SIZE / side
    # official label convention: centre at (size - 1) / 2 for an unjittered crop
    centre = (box[:2] + box[2:] / 2) * TEMPLATE_SIZE
    np.testing.assert_allclose(centre, [(TEMPLATE_SIZE - 1) / 2] * 2, atol=1e-9)
    np.testing.assert_allclose(box[2:] * TEMPLATE_SIZE, gt[2:] * scale, rtol=1e-12)
    assert crop.shape == (TEMPLATE_SIZE, TEMPLATE_SIZE, 3) and crop.dtype == np.uint8


def test_box_in_crop_maps_centre_offsets_by_the_resize_factor():
    gt = np.array([100.0, 50.0, 20.0, 10.0])
    crop_box = np.array([90.0, 45.0, 20.0, 10.0])  # centre 10 px left, 5 px up of the target's
    box = box_in_crop(gt, crop_box, resize_factor=2.0, output_size=256) * 256
    np.testing.assert_allclose(box, [127.5 + 20 - 20, 127.5 + 10 - 10, 40, 20])


def test_jitter_statistics_follow_the_spec():
    rng = np.random.default_rng(3)
    box = np.array([10.0, 20.0, 40.0, 10.0])
    samples = np.array([jitter_box(box, 0.5, 3.5, rng) for _ in range(4000)])
    log_scale = np.log(samples[:, 2:] / box[2:])
    np.testing.assert_allclose(log_scale.std(axis=0), [0.5, 0.5], rtol=0.06)
    centre_offset = samples[:, :2] + samples[:, 2:] / 2 - (box[:2] + box[2:] / 2)
    bound = np.sqrt(samples[:, 2] * samples[:, 3]) * 3.5 / 2
    assert (np.abs(centre_offset) <= bound[:, None] + 1e-9).all()
    assert (np.abs(centre_offset) > 0.9 * bound[:, None]).any(), "offsets never reach the bound: not uniform"
    np.testing.assert_array_equal(jitter_box(box, 0.0, 0.0, rng), box)


def test_crops_entirely_on_padding_are_rejected():
    image = np.zeros((40, 48, 3), np.uint8)
    outside = np.array([-200.0, 10.0, 8.0, 8.0])
    assert not feature_mask(outside, 2.0, image.shape, TEMPLATE_SIZE).any()
    assert cut(image, outside, 2.0, TEMPLATE_SIZE, 0.0, 0.0, np.random.default_rng(0)) is None
    corner = np.array([44.0, 36.0, 8.0, 8.0])  # crop hangs over the bottom-right corner
    mask = feature_mask(corner, 2.0, image.shape, TEMPLATE_SIZE)
    assert mask.any() and not mask.all() and mask[0, 0] and not mask[-1, -1]
    assert cut(image, np.array([10.0, 10.0, 0.0, 5.0]), 2.0, 8, 0.0, 0.0, np.random.default_rng(0)) is None


def _config(**augment) -> TrainingConfig:
    config = TrainingConfig()
    config.augment = dataclasses.replace(AugmentConfig(), **augment)
    return config


def _pair(shared_sequences, name="OTB100/Car4", gap=5) -> RawPair:
    sequence = shared_sequences[name]
    t = len(sequence) // 2
    return RawPair(
        template_image=sequence.frame(t), template_box=sequence.ground_truth[t],
        search_image=sequence.frame(t + gap), search_box=sequence.ground_truth[t + gap],
        mode="video", source="test", sequence=name, template_frame=t, search_frame=t + gap,
    )


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_processed_pair_labels_match_the_target_after_flips(shared_sequences, flip):
    pair = _pair(shared_sequences)
    processor = PairProcessor(_config(flip_prob=flip, brightness=0.0, grayscale_prob=0.0))
    template_reference = box_patch(pair.template_image, pair.template_box)
    search_reference = box_patch(pair.search_image, pair.search_box)
    if flip:
        template_reference, search_reference = template_reference[:, ::-1], search_reference[:, ::-1]
    checked = 0
    for seed in range(12):
        out = processor(pair, np.random.default_rng(seed))
        if out is None:
            continue
        assert out.template.shape == (3, TEMPLATE_SIZE, TEMPLATE_SIZE) and out.template.dtype == np.float32
        assert out.search.shape == (3, SEARCH_SIZE, SEARCH_SIZE) and out.search.dtype == np.float32
        template_error = np.abs(
            box_patch(denormalize(out.template), out.template_box * TEMPLATE_SIZE) - template_reference
        ).mean()
        assert template_error < 10
        search_box = out.search_box * SEARCH_SIZE
        if inside(search_box, SEARCH_SIZE):
            assert np.abs(box_patch(denormalize(out.search), search_box) - search_reference).mean() < 10
            checked += 1
    assert checked >= 4


def _flip_states(processor, pair, seeds):
    """Per seed: (template flipped, search flipped), found by comparing with never/always-flip runs."""
    never = dataclasses.replace(processor.config.augment, flip_prob=0.0)
    always = dataclasses.replace(processor.config.augment, flip_prob=1.0)
    states = []
    for seed in seeds:
        outputs = {}
        for label, augment in (("run", processor.config.augment), ("never", never), ("always", always)):
            config = dataclasses.replace(processor.config, augment=augment)
            outputs[label] = PairProcessor(config)(pair, np.random.default_rng(seed))
        if outputs["run"] is None:
            continue
        state = []
        for field in ("template", "search"):
            run = getattr(outputs["run"], field)
            if np.array_equal(run, getattr(outputs["always"], field)):
                state.append(True)
            else:
                np.testing.assert_array_equal(run, getattr(outputs["never"], field))
                state.append(False)
        states.append(tuple(state))
    return states


def test_flip_is_joint_by_default_and_independent_with_the_official_switch(shared_sequences):
    pair = _pair(shared_sequences, "OTB100/Crossing")
    joint = _flip_states(PairProcessor(_config(flip_prob=0.5)), pair, range(30))
    assert all(t == s for t, s in joint)
    assert {t for t, _ in joint} == {True, False}
    independent = _flip_states(
        PairProcessor(_config(flip_prob=0.5, independent_template_search_flip=True)), pair, range(30)
    )
    assert any(t != s for t, s in independent), "the official switch never flipped template and search differently"


def test_grayscale_is_drawn_once_for_both_crops(shared_sequences):
    pair = _pair(shared_sequences, "VOT/bag")
    out = PairProcessor(_config(grayscale_prob=1.0))(pair, np.random.default_rng(1))
    for image in (denormalize(out.template), denormalize(out.search)):
        assert np.abs(image[..., 0] - image[..., 1]).max() < 0.01
        assert np.abs(image[..., 1] - image[..., 2]).max() < 0.01
    colour = PairProcessor(_config(grayscale_prob=0.0))(pair, np.random.default_rng(1))
    assert np.abs(denormalize(colour.search)[..., 0] - denormalize(colour.search)[..., 2]).max() > 10


def test_strong_photometric_augmentation_stays_in_range(shared_sequences):
    pair = _pair(shared_sequences, "OTB100/Dog")
    config = _config(brightness=0.4, contrast=0.4, saturation=0.5, blur_prob=1.0)
    out = PairProcessor(config)(pair, np.random.default_rng(5))
    for image in (denormalize(out.template), denormalize(out.search)):
        assert image.min() >= -0.01 and image.max() <= 255.01
    plain = PairProcessor(_config(brightness=0.0))(pair, np.random.default_rng(5))
    assert not np.allclose(out.search, plain.search)
