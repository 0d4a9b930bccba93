"""Where received frames wait: a stamp-indexed ring of recent frames and a one-slot mailbox for the worker.

Both hold the received messages themselves (no pixel copies); a frame is converted to an array only when it
is used, so holding ``capacity`` frames costs ``capacity`` messages of memory and nothing per frame.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["FrameRing", "LatestSlot", "ReceivedFrame"]


@dataclass(frozen=True)
class ReceivedFrame:
    """One received image message.

    ``stamp_ns`` is ``header.stamp`` in nanoseconds (0 when the camera sent no stamp); ``compressed`` tells
    whether ``message`` is a ``CompressedImage`` rather than an ``Image``.
    """

    message: Any
    stamp_ns: int
    compressed: bool


class FrameRing:
    """The last ``capacity`` frames, for initialising on the frame a target box was drawn on.

    Thread-safe: the subscription pushes while a service callback looks frames up.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"FrameRing capacity must be at least 1, got {capacity}")
        self._frames: deque[ReceivedFrame] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def push(self, frame: ReceivedFrame) -> None:
        """Add the newest frame, forgetting the oldest one when full."""
        with self._lock:
            self._frames.append(frame)

    def latest(self) -> ReceivedFrame | None:
        """The most recently received frame, or None before the first one."""
        with self._lock:
            return self._frames[-1] if self._frames else None

    def find(self, stamp_ns: int, tolerance_ns: int) -> ReceivedFrame | None:
        """The buffered frame whose stamp is nearest to ``stamp_ns``, if within ``tolerance_ns``, else None.

        Among equally near frames the most recently received wins.
        """
        with self._lock:
            frames = list(self._frames)
        best: ReceivedFrame | None = None
        best_distance = tolerance_ns + 1
        for frame in reversed(frames):
            distance = abs(frame.stamp_ns - stamp_ns)
            if distance < best_distance:
                best, best_distance = frame, distance
        return best

    def stamp_range_ns(self) -> tuple[int, int] | None:
        """(oldest, newest) stamp held, in nanoseconds, or None when empty (for error messages)."""
        with self._lock:
            if not self._frames:
                return None
            stamps = [frame.stamp_ns for frame in self._frames]
        return min(stamps), max(stamps)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()


class LatestSlot:
    """A one-slot mailbox: ``put`` replaces whatever is waiting, ``take`` blocks until something arrives.

    This is how processing never queues behind the camera: the worker always gets the newest frame and the
    producer learns which older frame was overwritten so it can count it as dropped.
    """

    def __init__(self) -> None:
        self._item: Any = None
        self._closed = False
        self._condition = threading.Condition()

    def put(self, item: Any) -> Any:
        """Store ``item`` and return the unprocessed item it replaced (None if the slot was empty)."""
        if item is None:
            raise ValueError("LatestSlot cannot hold None")
        with self._condition:
            replaced, self._item = self._item, item
            self._condition.notify()
        return replaced

    def take(self, timeout_s: float | None = None) -> Any:
        """Remove and return the waiting item; None after ``timeout_s`` seconds or once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout=timeout_s)
            item, self._item = self._item, None
        return item

    def close(self) -> None:
        """Wake every waiting ``take`` for good (used at shutdown)."""
        with self._condition:
            self._closed = True
            self._item = None
            self._condition.notify_all()
