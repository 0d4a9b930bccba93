"""Small helpers shared by the tracking tests."""

from __future__ import annotations

import hashlib

import numpy as np

from hit_core.tracking import Backend, NetworkOutput

SEQUENCES = {"Crossing": "OTB100/Crossing", "wakeboard7": "UAV123_10fps/wakeboard7"}


def sha256(array: np.ndarray) -> str:
    """sha256 of an array's C-order bytes (how the parity fixtures fingerprint images)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


class ReplayBackend(Backend):
    """Plays back recorded network boxes and keeps the crops it was given."""

    name = "replay"
    variant = "tiny"

    def __init__(self, boxes: np.ndarray) -> None:
        self._boxes = iter(boxes)
        self.template: np.ndarray | None = None
        self.searches: list[np.ndarray] = []

    def set_template(self, template: np.ndarray) -> None:
        self.template = template

    def infer(self, search: np.ndarray) -> NetworkOutput:
        self.searches.append(search)
        flat = np.zeros((16, 16), np.float32)
        return NetworkOutput(box=next(self._boxes), score_tl=flat, score_br=flat)

    def close(self) -> None:
        self.searches.clear()


class RecordingBackend(Backend):
    """Runs another backend and keeps every network output it returned and the sha256 of every search crop."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.name = inner.name
        self.variant = inner.variant
        self.outputs: list[NetworkOutput] = []
        self.search_hashes: list[str] = []

    def set_template(self, template: np.ndarray) -> None:
        self._inner.set_template(template)

    def infer(self, search: np.ndarray) -> NetworkOutput:
        output = self._inner.infer(search)
        self.outputs.append(output)
        self.search_hashes.append(sha256(search))
        return output

    def close(self) -> None:
        self._inner.close()
