"""LeViT backbone over the joint [search, template] token sequence (spec section 1).

Module and attribute names reproduce the official state-dict layout exactly (``patch_embed.<i>.c/.bn``,
``blocks.<i>.m.qkv``, ``blocks.<i>.kv``, ``blocks.<i>.q.1``, ``...proj.1``), so the authors' checkpoints and
the ImageNet LeViT weights load by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

BN_EPS = 1e-5


@dataclass(frozen=True)
class BackboneSpec:
    """Hyper-parameters of one LeViT body (spec section 0).

    ``embed_dims``/``depths``/``num_heads`` are per stage; ``key_dim`` is shared by every attention block.
    """

    embed_dims: tuple[int, int, int]
    depths: tuple[int, int, int]
    num_heads: tuple[int, int, int]
    key_dim: int
    drop_path: float
    attn_ratio: int = 2
    mlp_ratio: int = 2
    subsample_attn_ratio: int = 4


def token_coordinates(search_side: int, template_side: int) -> np.ndarray:
    """Integer (row, col) of every token on the virtual diagonal canvas (spec 1.6).

    Search tokens first (row-major, at (i, j)), then template tokens (row-major, at (s + i, s + j) with
    s = ``search_side``): the template grid touches the search grid's bottom-right corner.
    Returns an int64 array of shape (search_side**2 + template_side**2, 2).
    """
    search = np.indices((search_side, search_side)).reshape(2, -1).T
    template = np.indices((template_side, template_side)).reshape(2, -1).T + search_side
    return np.concatenate([search, template]).astype(np.int64)


@lru_cache(maxsize=None)
def attention_bias_index_table(key_sides: tuple[int, int], stride: int) -> tuple[np.ndarray, int]:
    """Offset ids of the relative-position attention bias, identical to the official buffers.

    ``key_sides`` = (search side, template side) of the key tokens' grid; ``stride`` 1 for a stage attention
    block (queries = keys), 2 for a subsample block (queries on the next, halved grid, their coordinates
    scaled by the stride). The offset of a (query, key) pair is (|dy|, |dx|); ids are assigned in order of
    first appearance, queries outer and keys inner. Returns the read-only (Nq, Nk) int64 table and the
    number of distinct offsets.
    """
    search_side, template_side = key_sides
    keys = token_coordinates(search_side, template_side)
    queries = token_coordinates((search_side - 1) // stride + 1, (template_side - 1) // stride + 1) * stride
    offsets = np.abs(queries[:, None, :] - keys[None, :, :])
    codes = (offsets[..., 0] * (offsets[..., 1].max() + 1) + offsets[..., 1]).ravel()
    _, first_seen, inverse = np.unique(codes, return_index=True, return_inverse=True)
    id_of_unique = np.empty(len(first_seen), dtype=np.int64)
    id_of_unique[np.argsort(first_seen, kind="stable")] = np.arange(len(first_seen))
    table = id_of_unique[inverse].reshape(len(queries), len(keys))
    table.flags.writeable = False
    return table, len(first_seen)


class ConvBN(nn.Module):
    """Conv2d without bias followed by BatchNorm2d (official ``Conv2d_BN``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.c(x))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """Return a Conv2d with bias equal to this pair in eval mode (BN running statistics folded in)."""
        scale, shift = _bn_scale_shift(self.bn)
        conv = self.c
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          bias=True, device=conv.weight.device, dtype=conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_(shift)
        return fused


class LinearBN(nn.Module):
    """Linear without bias followed by BatchNorm1d over all (batch, token) rows (official ``Linear_BN``)."""

    def __init__(self, in_features: int, out_features: int, bn_weight_init: float = 1.0) -> None:
        super().__init__()
        self.c = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features, eps=BN_EPS)
        nn.init.constant_(self.bn.weight, bn_weight_init)

    def forward(self, x: Tensor) -> Tensor:
        x = self.c(x)
        return self.bn(x.flatten(0, 1)).reshape_as(x)

    @torch.no_grad()
    def fuse(self) -> nn.Linear:
        """Return a Linear with bias equal to this pair in eval mode (BN running statistics folded in)."""
        scale, shift = _bn_scale_shift(self.bn)
        linear = self.c
        fused = nn.Linear(linear.in_features, linear.out_features, bias=True,
                          device=linear.weight.device, dtype=linear.weight.dtype)
        fused.weight.copy_(linear.weight * scale[:, None])
        fused.bias.copy_(shift)
        return fused


def _bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
    return scale, bn.bias - bn.running_mean * scale


def fuse_conv_linear_bn(module: nn.Module) -> None:
    """Replace, in place, every ConvBN / LinearBN below ``module`` by its fused Conv2d / Linear."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (ConvBN, LinearBN)):
                setattr(parent, name, child.fuse())


class Residual(nn.Module):
    """x + m(x); in training with ``drop_path`` > 0 the branch is dropped per sample (stochastic depth)."""

    def __init__(self, m: nn.Module, drop_path: float) -> None:
        super().__init__()
        self.m = m
        self.drop_path = drop_path

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.drop_path > 0:
            keep = torch.rand(x.shape[0], 1, 1, device=x.device, dtype=x.dtype).ge_(self.drop_path)
            return x + self.m(x) * keep.div_(1 - self.drop_path)
        return x + self.m(x)


def mlp(dim: int, hidden: int) -> nn.Sequential:
    """LeViT MLP: Linear_BN -> Hardswish -> Linear_BN (second BN weight starts at 0)."""
    return nn.Sequential(LinearBN(dim, hidden), nn.Hardswish(), LinearBN(hidden, dim, bn_weight_init=0.0))


class _BiasedAttention(nn.Module):
    """Owner of one relative-position bias table and its official index buffer.

    In training the bias is gathered on every call (gradients reach the table). In eval mode the gathered
    (heads, Nq, Nk) tensor is cached in a non-persistent buffer, so it follows ``.to(device/dtype)`` and never
    appears in the state dict; it is re-gathered whenever the table changed since (version counter) or lives
    elsewhere, which covers ``load_state_dict`` and in-place updates done in eval mode.
    """

    def __init__(self, num_heads: int, key_sides: tuple[int, int], stride: int) -> None:
        super().__init__()
        table, num_offsets = attention_bias_index_table(key_sides, stride)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, num_offsets))
        self.register_buffer("attention_bias_idxs", torch.tensor(table), persistent=True)
        self.register_buffer("gathered_bias", None, persistent=False)
        self._gathered_version = -1

    def attention_bias(self) -> Tensor:
        """The (heads, Nq, Nk) additive attention bias."""
        table = self.attention_biases
        if self.training:
            return table[:, self.attention_bias_idxs]
        cached = self.gathered_bias
        if (cached is None or self._gathered_version != table._version or cached.device != table.device
                or cached.dtype != table.dtype):
            with torch.no_grad():
                cached = table[:, self.attention_bias_idxs]
            self.gathered_bias = cached
            self._gathered_version = table._version
        return cached

    def train(self, mode: bool = True) -> "_BiasedAttention":
        super().train(mode)
        if mode:
            self.gathered_bias = None
        return self


class Attention(_BiasedAttention):
    """Stage self-attention over all tokens (spec 1.4); the caller wraps it in ``Residual``."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: int, sides: tuple[int, int]) -> None:
        super().__init__(num_heads, sides, stride=1)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = attn_ratio * key_dim
        self.scale = key_dim ** -0.5
        self.qkv = LinearBN(dim, num_heads * (2 * key_dim + self.value_dim))
        self.proj = nn.Sequential(nn.Hardswish(), LinearBN(num_heads * self.value_dim, dim, bn_weight_init=0.0))

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).view(batch, tokens, self.num_heads, -1)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.value_dim], dim=3)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * self.scale + self.attention_bias()).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(batch, tokens, self.num_heads * self.value_dim)
        return self.proj(x)


class Subsample(nn.Module):
    """Keep every ``stride``-th row and column of the search grid and, separately, of the template grid."""

    def __init__(self, stride: int, sides: tuple[int, int]) -> None:
        super().__init__()
        self.stride = stride
        self.sides = sides

    def forward(self, x: Tensor) -> Tensor:
        batch, _, channels = x.shape
        search_side, template_side = self.sides
        search, template = x.split([search_side ** 2, template_side ** 2], dim=1)
        parts = []
        for part, side in ((search, search_side), (template, template_side)):
            grid = part.reshape(batch, side, side, channels)[:, ::self.stride, ::self.stride]
            parts.append(grid.reshape(batch, -1, channels))
        return torch.cat(parts, dim=1)


class AttentionSubsample(_BiasedAttention):
    """Stride-2 attention from the subsampled tokens to all tokens, C_in -> C_out (spec 1.7; not residual)."""

    def __init__(self, in_dim: int, out_dim: int, key_dim: int, num_heads: int, attn_ratio: int, stride: int,
                 sides: tuple[int, int]) -> None:
        super().__init__(num_heads, sides, stride=stride)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = attn_ratio * key_dim
        self.scale = key_dim ** -0.5
        self.kv = LinearBN(in_dim, num_heads * (key_dim + self.value_dim))
        self.q = nn.Sequential(Subsample(stride, sides), LinearBN(in_dim, num_heads * key_dim))
        self.proj = nn.Sequential(nn.Hardswish(), LinearBN(num_heads * self.value_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, _ = x.shape
        k, v = self.kv(x).view(batch, tokens, self.num_heads, -1).split([self.key_dim, self.value_dim], dim=3)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        q = self.q(x)
        out_tokens = q.shape[1]
        q = q.view(batch, out_tokens, self.num_heads, self.key_dim).transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * self.scale + self.attention_bias()).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(batch, out_tokens, self.num_heads * self.value_dim)
        return self.proj(x)


class LeViT(nn.Module):
    """The HiT backbone body: shared conv patch embedding, three attention stages, two subsample blocks.

    ``forward(search, template)`` returns ``[xz1, xz2, cxz]``: the tokens before subsample 1 (B, 320, C0) and
    before subsample 2 (B, 80, C1), and the stage-3 tokens with their mean prepended (B, 21, C2); every
    sequence holds the search tokens (row-major) first, then the template tokens.
    """

    def __init__(self, spec: BackboneSpec, search_size: int = 256, template_size: int = 128) -> None:
        super().__init__()
        c0, c1, c2 = spec.embed_dims
        self.patch_embed = nn.Sequential(
            ConvBN(3, c0 // 8, 3, 2, 1), nn.Hardswish(),
            ConvBN(c0 // 8, c0 // 4, 3, 2, 1), nn.Hardswish(),
            ConvBN(c0 // 4, c0 // 2, 3, 2, 1), nn.Hardswish(),
            ConvBN(c0 // 2, c0, 3, 2, 1),
        )
        sides = (search_size // 16, template_size // 16)
        blocks: list[nn.Module] = []
        self.feature_block_indices: tuple[int, ...] = ()
        for stage in range(3):
            dim = spec.embed_dims[stage]
            for _ in range(spec.depths[stage]):
                blocks.append(Residual(Attention(dim, spec.key_dim, spec.num_heads[stage], spec.attn_ratio, sides),
                                       spec.drop_path))
                blocks.append(Residual(mlp(dim, spec.mlp_ratio * dim), spec.drop_path))
            if stage < 2:
                out_dim = spec.embed_dims[stage + 1]
                self.feature_block_indices += (len(blocks),)
                blocks.append(AttentionSubsample(dim, out_dim, spec.key_dim, dim // spec.key_dim,
                                                 spec.subsample_attn_ratio, 2, sides))
                blocks.append(Residual(mlp(out_dim, spec.mlp_ratio * out_dim), spec.drop_path))
                sides = tuple((side - 1) // 2 + 1 for side in sides)
        self.blocks = nn.ModuleList(blocks)

    def embed(self, image: Tensor) -> Tensor:
        """(B, 3, H, W) image -> (B, H/16 * W/16, C0) row-major tokens."""
        return self.patch_embed(image).flatten(2).transpose(1, 2)

    def forward(self, search: Tensor, template: Tensor) -> list[Tensor]:
        x = torch.cat([self.embed(search), self.embed(template)], dim=1)
        features = []
        for index, block in enumerate(self.blocks):
            if index in self.feature_block_indices:
                features.append(x)
            x = block(x)
        features.append(torch.cat([x.mean(dim=1, keepdim=True), x], dim=1))
        return features
