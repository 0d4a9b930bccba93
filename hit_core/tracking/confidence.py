"""A per-frame confidence in [0, 1] from the two corner maps (HiT has no score head).

The box's corners are soft-argmax expectations over two 16 x 16 probability maps. When
the network is sure, each map's probability is concentrated around the corner it
reports; when the target is occluded, out of view or confused with a distractor, the
mass spreads out or splits between modes, and the expectation lands where little
probability supports it. The score measures exactly that support:

For each map M (``score_tl``, ``score_br``; raw logits, 16 x 16, row = y):

1. ``p = softmax(M)`` over the 256 cells (the same softmax the head uses);
2. the reported corner, in cell units, is ``(E[col], E[row])`` under ``p``; the cell that
   contains it is ``(round(E[col]), round(E[row]))`` (the head places cell k's corner at
   k * 16 px, so a coordinate of c cells lies in cell round(c));
3. ``support = sum of p over the 3 x 3 cells centred there`` (clipped at the map border).

``score = sqrt(support_tl * support_br)`` (geometric mean: one uncertain corner is
enough to make the box untrustworthy). It is 1 when both maps put all their mass
within one cell of the reported corners, and about 9/256 = 0.035 for flat maps.
It is a heuristic ranking signal, not a calibrated probability: choose thresholds on
your own footage. The maps must be finite (the tracker checks the network output).
"""

from __future__ import annotations

import numpy as np

_SIDE = 16
_CELLS = np.arange(_SIDE, dtype=np.float64)


def _supports(logits: np.ndarray) -> list[float]:
    """Support of each of K maps given as (K, 16, 16) float64 logits (modified in place)."""
    logits -= logits.max(axis=(1, 2), keepdims=True)
    probabilities = np.exp(logits, out=logits)
    probabilities /= probabilities.sum(axis=(1, 2), keepdims=True)
    rows = np.rint(probabilities.sum(axis=2) @ _CELLS).astype(np.intp).tolist()
    cols = np.rint(probabilities.sum(axis=1) @ _CELLS).astype(np.intp).tolist()
    return [
        float(probability_map[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].sum())
        for probability_map, row, col in zip(probabilities, rows, cols)
    ]


def corner_support(score_map: np.ndarray) -> float:
    """Probability mass within one cell of a corner map's soft-argmax (see module docstring)."""
    return _supports(np.array(score_map, dtype=np.float64).reshape(1, _SIDE, _SIDE))[0]


def corner_confidence(score_tl: np.ndarray, score_br: np.ndarray) -> float:
    """Tracking confidence in [0, 1]: geometric mean of both corners' support."""
    shape = (_SIDE, _SIDE)
    maps = np.stack((np.reshape(score_tl, shape), np.reshape(score_br, shape))).astype(np.float64)
    support_tl, support_br = _supports(maps)
    return min(1.0, (support_tl * support_br) ** 0.5)
