"""The stamp-matched frame ring and the one-slot mailbox (pure Python, no ROS traffic)."""

from __future__ import annotations

import threading
import time

import pytest

from hit_ros.frame_buffer import FrameRing, LatestSlot, ReceivedFrame


def _frame(stamp_ns: int) -> ReceivedFrame:
    return ReceivedFrame(message=f"msg{stamp_ns}", stamp_ns=stamp_ns, compressed=False)


def test_ring_keeps_the_newest_frames_and_matches_stamps_within_tolerance():
    ring = FrameRing(capacity=3)
    assert ring.latest() is None and ring.stamp_range_ns() is None and ring.find(0, 10**9) is None
    for stamp in (100, 200, 300, 400):
        ring.push(_frame(stamp))
    assert len(ring) == 3
    assert ring.latest().stamp_ns == 400
    assert ring.stamp_range_ns() == (200, 400)
    assert ring.find(300, 0).stamp_ns == 300
    assert ring.find(310, 10).stamp_ns == 300
    assert ring.find(310, 9) is None
    assert ring.find(100, 50) is None, "the oldest frame fell out of the ring"
    assert ring.find(249, 100).stamp_ns == 200, "nearest stamp wins"
    ring.push(_frame(400))
    assert ring.find(400, 0) is ring.latest(), "among equal stamps the most recent wins"
    ring.clear()
    assert len(ring) == 0


def test_ring_rejects_zero_capacity():
    with pytest.raises(ValueError, match="at least 1"):
        FrameRing(0)


def test_mailbox_hands_over_only_the_newest_item_and_reports_what_it_replaced():
    slot = LatestSlot()
    assert slot.put("a") is None
    assert slot.put("b") == "a"
    assert slot.put("c") == "b"
    assert slot.take(timeout_s=0) == "c"
    assert slot.take(timeout_s=0.01) is None
    with pytest.raises(ValueError):
        slot.put(None)


def test_mailbox_take_blocks_until_put_and_close_releases_waiters():
    slot = LatestSlot()
    got = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout_s=5)))
    consumer.start()
    time.sleep(0.05)
    slot.put("frame")
    consumer.join(timeout=5)
    assert got == ["frame"]

    waiter = threading.Thread(target=lambda: got.append(slot.take(timeout_s=30)))
    waiter.start()
    time.sleep(0.05)
    slot.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and got[-1] is None
