"""uint8 crops become the official float32 network inputs bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.errors import ConfigError
from hit_core.tracking.backends import check_crop, normalize_crop


def test_normalisation_is_bit_exact(load_npz):
    data = load_npz("inputs.npz")
    for pair in range(2):
        np.testing.assert_array_equal(normalize_crop(data["search_u8_real"][pair]), data["search"][pair : pair + 1])
        np.testing.assert_array_equal(
            normalize_crop(data["template_u8_real"][pair]), data["template"][pair : pair + 1]
        )
    for pair, (search_seed, template_seed) in zip((2, 3), data["random_seeds"]):
        search = np.random.RandomState(search_seed).randint(0, 256, size=(256, 256, 3)).astype(np.uint8)
        template = np.random.RandomState(template_seed).randint(0, 256, size=(128, 128, 3)).astype(np.uint8)
        np.testing.assert_array_equal(normalize_crop(search), data["search"][pair : pair + 1])
        np.testing.assert_array_equal(normalize_crop(template), data["template"][pair : pair + 1])


def test_normalised_input_is_contiguous_nchw_float32():
    normalised = normalize_crop(np.zeros((256, 256, 3), np.uint8))
    assert normalised.shape == (1, 3, 256, 256)
    assert normalised.dtype == np.float32
    assert normalised.flags.c_contiguous


@pytest.mark.parametrize(
    "crop", [np.zeros((128, 128, 3), np.float32), np.zeros((127, 128, 3), np.uint8), np.zeros((128, 128), np.uint8)]
)
def test_wrong_crops_are_refused(crop):
    with pytest.raises(ConfigError, match=r"template crop must be uint8 of shape \(128, 128, 3\)"):
        check_crop(crop, 128, "template")
