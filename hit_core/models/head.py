"""The corner head with global-vector modulation and soft-argmax (spec section 3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class CornerHead(nn.Module):
    """Two independent conv branches predict top-left and bottom-right corner score maps.

    Each corner is the soft-argmax of its map over a grid whose points are the cells' top-left corners
    (0, stride, ..., (S-1)*stride), divided by the crop size S*stride: coordinates are normalised to the
    search crop and lie in [0, (S-1)/S]. ``forward`` returns the box (B, 4) as (cx, cy, w, h) and the raw
    pre-softmax maps (B, 1, S, S) of both corners.
    """

    def __init__(self, in_channels: int = 256, channels: int = 256, feature_side: int = 16, stride: int = 16) -> None:
        super().__init__()
        widths = (in_channels, channels, channels // 2, channels // 4, channels // 8)
        for corner in ("tl", "br"):
            for index in range(4):
                setattr(self, f"conv{index + 1}_{corner}", _conv_bn_relu(widths[index], widths[index + 1]))
            setattr(self, f"conv5_{corner}", nn.Conv2d(widths[4], 1, kernel_size=1))
        self.feature_side = feature_side
        positions = torch.arange(feature_side, dtype=torch.float32) * stride
        crop_size = feature_side * stride
        self.register_buffer("grid_x", positions.repeat(feature_side) / crop_size, persistent=False)
        self.register_buffer("grid_y", positions.repeat_interleave(feature_side) / crop_size, persistent=False)

    def _score_map(self, x: Tensor, corner: str) -> Tensor:
        for index in range(1, 6):
            x = getattr(self, f"conv{index}_{corner}")(x)
        return x

    def _soft_argmax(self, score_map: Tensor) -> tuple[Tensor, Tensor]:
        prob = score_map.flatten(1).softmax(dim=1)
        return (prob * self.grid_x).sum(dim=1), (prob * self.grid_y).sum(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        score_tl = self._score_map(x, "tl")
        score_br = self._score_map(x, "br")
        x1, y1 = self._soft_argmax(score_tl)
        x2, y2 = self._soft_argmax(score_br)
        box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
        return box, score_tl, score_br


def modulate(neck_output: Tensor, feature_side: int) -> Tensor:
    """Scale every search feature by its dot product with the global vector (spec 3.1).

    ``neck_output`` (1 + S*S, B, C) sequence-first -> (B, C, S, S).
    """
    global_vector = neck_output[0]
    search = neck_output[1:].transpose(0, 1)
    similarity = torch.bmm(search, global_vector.unsqueeze(2))
    batch, _, channels = search.shape
    return (search * similarity).transpose(1, 2).reshape(batch, channels, feature_side, feature_side)
