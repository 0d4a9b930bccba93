"""The corner-map confidence: its documented values and its ordering."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.tracking.confidence import corner_confidence, corner_support


def _peak(row: int, col: int, height: float) -> np.ndarray:
    logits = np.zeros((16, 16), np.float32)
    logits[row, col] = height
    return logits


def test_flat_maps_score_nine_cells_of_256():
    flat = np.zeros((16, 16), np.float32)
    assert corner_support(flat) == pytest.approx(9 / 256)
    assert corner_confidence(flat, flat) == pytest.approx(9 / 256)


def test_sharp_peaks_score_one():
    assert corner_confidence(_peak(3, 4, 60.0), _peak(12, 11, 60.0)) == pytest.approx(1.0, abs=1e-12)


def test_support_is_the_softmax_mass_next_to_the_expected_corner():
    logits = np.random.default_rng(1).normal(size=(16, 16))
    probabilities = np.exp(logits) / np.exp(logits).sum()
    row = int(np.rint((probabilities.sum(axis=1) * np.arange(16)).sum()))
    col = int(np.rint((probabilities.sum(axis=0) * np.arange(16)).sum()))
    expected = probabilities[row - 1 : row + 2, col - 1 : col + 2].sum()
    assert corner_support(logits) == pytest.approx(expected, rel=1e-12)


def test_border_peaks_count_only_cells_inside_the_map():
    assert corner_support(_peak(0, 0, 60.0)) == pytest.approx(1.0, abs=1e-12)
    assert corner_support(_peak(15, 15, 60.0)) == pytest.approx(1.0, abs=1e-12)


def test_split_or_weak_corners_lower_the_score():
    sharp = _peak(5, 5, 12.0)
    weak = _peak(5, 5, 3.0)
    split = _peak(2, 2, 12.0)
    split[13, 13] = 12.0
    assert corner_confidence(sharp, sharp) > corner_confidence(weak, sharp) > corner_confidence(weak, weak)
    assert corner_confidence(split, sharp) < 0.5 * corner_confidence(sharp, sharp)


def test_score_is_within_bounds_for_extreme_logits():
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1.0, 50.0, 1e4):
        maps = rng.normal(scale=scale, size=(2, 16, 16)).astype(np.float32)
        assert 0.0 <= corner_confidence(maps[0], maps[1]) <= 1.0
