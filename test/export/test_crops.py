"""Real crop pairs for export checks and calibration."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.errors import DatasetError
from hit_core.export.crops import real_crop_pairs
from hit_core.tracking.crop import sample_target


def test_sequence_pairs_follow_the_ground_truth(crossing_dir):
    from hit_core.data.folder import load_folder

    sequence = load_folder(crossing_dir)[0]
    pairs = real_crop_pairs([crossing_dir], pairs_per_source=3)
    assert len(pairs) == 3
    template, _ = sample_target(sequence.frame(0), sequence.ground_truth[0], 2.0, 128)
    for pair in pairs:
        assert pair.template.shape == (128, 128, 3) and pair.search.shape == (256, 256, 3)
        assert pair.template.dtype == pair.search.dtype == np.uint8
        np.testing.assert_array_equal(pair.template, template)
    index = int(pairs[-1].source.rsplit("#", 1)[1]) - 1  # 1-based frame number in the source name
    expected, _ = sample_target(sequence.frame(index), sequence.ground_truth[index - 1], 4.0, 256)
    np.testing.assert_array_equal(pairs[-1].search, expected)


def test_plain_image_folders_and_bad_sources(crossing_dir, tmp_path):
    pairs = real_crop_pairs([crossing_dir / "img"], pairs_per_source=2)
    assert len(pairs) == 2 and pairs[0].source.endswith(".jpg")
    with pytest.raises(DatasetError, match="not a folder"):
        real_crop_pairs([tmp_path / "missing"])
    with pytest.raises(DatasetError, match="no frames"):
        real_crop_pairs([tmp_path])
