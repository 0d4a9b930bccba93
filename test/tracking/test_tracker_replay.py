"""Frame-by-frame replay of the official tracker runs: crops, resize factors and states bit-exact.

The network's recorded outputs (``pred_norm``) are played back by :class:`ReplayBackend`, so
these tests check everything the tracker does around the network, row by row, independent of
the feedback loop; ``test_tracker_parity.py`` runs the real network end to end.
"""

from __future__ import annotations

import numpy as np
import pytest

from hit_core.tracking import Tracker
from hit_core.tracking.crop import crop_side
from tracking.helpers import ReplayBackend, sha256


@pytest.mark.parametrize("sequence", ["Crossing", "wakeboard7"])
def test_decoded_frames_match_the_fixture_frames(load_npz, sequence_frames, sequence):
    """Everything below assumes our JPEG decoding equals the one the fixtures used."""
    data = load_npz(f"tracker_{sequence}.npz")
    frames = sequence_frames(sequence)
    assert [sha256(frame) for frame in frames] == list(data["frame_sha256"])


@pytest.mark.parametrize("sequence", ["Crossing", "wakeboard7"])
@pytest.mark.parametrize("mode", ["free", "gtfed"])
def test_replayed_track_calls_are_bit_exact(load_npz, sequence_frames, sequence, mode):
    data = load_npz(f"tracker_{sequence}.npz")
    frames = sequence_frames(sequence)
    backend = ReplayBackend(data[f"{mode}_pred_norm"])
    tracker = Tracker(backend)
    tracker.initialize(frames[0], data["init_bbox"])
    assert sha256(backend.template) == str(data["template_crop_sha256"])
    np.testing.assert_array_equal(backend.template, data["template_crop_u8"])
    assert crop_side(data["init_bbox"], 2.0) == data["template_crop_side"]

    for row, state_before in enumerate(data[f"{mode}_state_before"]):
        if mode == "gtfed":
            tracker.set_state(state_before)
        np.testing.assert_array_equal(tracker.state, state_before, err_msg=f"state before row {row}")
        assert crop_side(state_before, 4.0) == data[f"{mode}_crop_side"][row]
        result = tracker.track(frames[row + 1])
        assert sha256(backend.searches[-1]) == data[f"{mode}_crop_sha256"][row], f"search crop row {row}"
        np.testing.assert_array_equal(result.box, data[f"{mode}_state_after"][row], err_msg=f"state after row {row}")
        np.testing.assert_array_equal(tracker.state, result.box)
    if mode == "free":
        for row in range(3):
            np.testing.assert_array_equal(backend.searches[row], data["search_crop_u8_first3"][row])
