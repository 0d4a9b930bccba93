"""State-dict layout, attention index tables and parameter counts equal the official ones."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

VARIANTS = ("tiny", "small", "base")

# fixtures README §1 (identical for all variants)
TABLE_FINGERPRINTS = {
    ((16, 8), 1): ((320, 320), 560, "d587dcc8e4d2ed1474dd764c79759e945589e13f57941b822f6053934c7da30c"),
    ((16, 8), 2): ((80, 320), 558, "7226afe84b5193285ea861f5aee1f54de952aedebf0a331f69dde22e5ecd96a8"),
    ((8, 4), 1): ((80, 80), 136, "b6bf015c2dab684451ad863058f0920c6cbef589386994dfe535e09befe05560"),
    ((8, 4), 2): ((20, 80), 134, "029b270853421d09aff883be52e90d114c1374bf23693c68c18b9e0713bfe13b"),
    ((4, 2), 1): ((20, 20), 32, "f8cdab7d25cd03889eb9077e3a574d51908e38caae52106e85991eac11a8dba6"),
}
# spec §0 / §1.10 / §13
PARAMETERS = {"tiny": (9_628_530, 9_609_474, 9_594_914), "small": (11_069_794, 11_046_258, 11_024_802),
              "base": (42_220_250, 42_168_586, 42_139_874)}
ATTENTION_BIAS_PARAMETERS = {"tiny": 14_560, "small": 21_456, "base": 28_712}


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<i8").tobytes()).hexdigest()


@pytest.fixture(scope="module")
def models():
    from hit_core.models import create_model

    return {variant: create_model(variant) for variant in VARIANTS}


@pytest.mark.parametrize("sides_stride", list(TABLE_FINGERPRINTS), ids=lambda s: f"{s[0][0]}/{s[0][1]}-stride{s[1]}")
def test_index_table_matches_official_fingerprint(sides_stride):
    from hit_core.models.levit import attention_bias_index_table

    shape, offsets, fingerprint = TABLE_FINGERPRINTS[sides_stride]
    table, count = attention_bias_index_table(*sides_stride)
    assert table.shape == shape and table.dtype == np.int64 and count == offsets
    assert _sha256(table) == fingerprint


def test_index_table_spot_values():
    from hit_core.models.levit import attention_bias_index_table

    stage1, _ = attention_bias_index_table((16, 8), 1)
    for sides_stride in TABLE_FINGERPRINTS:
        table, _ = attention_bias_index_table(*sides_stride)
        assert list(table[0, :5]) == [0, 1, 2, 3, 4]
    assert stage1[0, 256] == 256
    assert list(stage1[-1, -8:]) == [7, 6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_layout_equals_official_key_list(variant, models, parity_dir, fixture_weights):
    import torch

    expected = fixture_weights.load_key_list(str(parity_dir / "keys" / f"hit_{variant}.txt"))
    state = models[variant].state_dict()
    assert [(key, tuple(value.shape)) for key, value in state.items()] == expected
    integer_keys = [key for key in state if key.endswith(("attention_bias_idxs", "num_batches_tracked"))]
    assert all(state[key].dtype == torch.int64 for key in integer_keys)
    assert all(value.dtype == torch.float32 for key, value in state.items() if key not in integer_keys)


@pytest.mark.parametrize("variant", VARIANTS)
def test_index_buffers_match_official_per_key_fingerprints(variant, models, parity_dir):
    manifest = json.loads((parity_dir / "manifest.json").read_text())
    expected = manifest["attention_bias_idxs_sha256_per_key"][variant]
    state = models[variant].state_dict()
    ours = {key: _sha256(value.numpy()) for key, value in state.items() if key.endswith("attention_bias_idxs")}
    assert ours == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameter_counts(variant):
    from hit_core.models import count_parameters, create_model
    from hit_core.models.complexity import count_thop_parameters

    model = create_model(variant, device="meta")
    training, fused, thop = PARAMETERS[variant]
    assert count_parameters(model) == training
    biases = sum(p.numel() for name, p in model.named_parameters() if name.endswith("attention_biases"))
    assert biases == ATTENTION_BIAS_PARAMETERS[variant]
    model.fuse()
    assert count_parameters(model) == fused
    assert count_thop_parameters(model) == thop


def test_fixture_weights_fingerprint_matches_readme(fixture_state_dict, fixture_weights, parity_dir):
    manifest = json.loads((parity_dir / "manifest.json").read_text())
    weights = {key: value.numpy() for key, value in fixture_state_dict("tiny").items()
               if not key.endswith("attention_bias_idxs")}
    assert fixture_weights.state_dict_sha256(weights) == manifest["weights_state_dict_sha256"]["tiny"]
