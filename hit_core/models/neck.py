"""The bridge module (official neck type ``FB``, spec section 2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BridgeNeck(nn.Module):
    """Fuses the search parts of the three backbone outputs top-down into one 16x16 map plus a global vector.

    Stage-3 search tokens are upsampled by transposed convolution + BN and added to the stage-2 search
    tokens (then ReLU), upsampled again and added to the stage-1 search tokens; the result is projected to
    ``hidden_dim`` channels per position (``proj1``) and the stage-3 mean token to ``hidden_dim`` (``proj2``).
    Output is sequence-first like the official network: (1 + S*S, B, hidden_dim), index 0 = global vector,
    1 ... S*S = the S x S search map row-major (S = ``search_feature_side``).
    """

    def __init__(self, embed_dims: tuple[int, int, int], search_feature_side: int = 16,
                 hidden_dim: int = 256) -> None:
        super().__init__()
        c0, c1, c2 = embed_dims
        self.search_feature_side = search_feature_side
        self.layers = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(c2, c1, kernel_size=2, stride=2), nn.BatchNorm2d(c1)),
            nn.Sequential(nn.ConvTranspose2d(c1, c0, kernel_size=2, stride=2), nn.BatchNorm2d(c0)),
        ])
        self.proj1 = nn.Linear(c0, hidden_dim)
        self.proj2 = nn.Linear(c2, hidden_dim)

    def forward(self, features: list[Tensor]) -> Tensor:
        xz1, xz2, cxz = features
        side = self.search_feature_side
        global_token = cxz[:, 0]
        maps = [_search_map(tokens, side >> shift) for tokens, shift in ((cxz[:, 1:], 2), (xz2, 1), (xz1, 0))]
        fused = torch.relu(self.layers[0](maps[0]) + maps[1])
        fused = self.layers[1](fused) + maps[2]
        search = self.proj1(fused.flatten(2).transpose(1, 2))
        return torch.cat([self.proj2(global_token)[:, None], search], dim=1).transpose(0, 1)


def _search_map(tokens: Tensor, side: int) -> Tensor:
    """First side*side tokens (the search grid, row-major) of (B, N, C) as a (B, C, side, side) map."""
    batch, _, channels = tokens.shape
    return tokens[:, :side * side].transpose(1, 2).reshape(batch, channels, side, side)
