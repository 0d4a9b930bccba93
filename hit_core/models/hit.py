"""The HiT network: LeViT backbone -> bridge neck -> modulated corner head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hit_core.errors import ConfigError

from hit_core.models.head import CornerHead, modulate
from hit_core.models.levit import LeViT, fuse_conv_linear_bn
from hit_core.models.neck import BridgeNeck
from hit_core.models.registry import VariantSpec

SEARCH_SIZE = 256
TEMPLATE_SIZE = 128
FEATURE_STRIDE = 16
HIDDEN_DIM = 256


class HiT(nn.Module):
    """One HiT variant with the official state-dict layout (``backbone.body.*``, ``box_head.*``, ``bottleneck.*``).

    Inputs: ``search`` (B, 3, 256, 256) and ``template`` (B, 3, 128, 128), float, ImageNet-normalised RGB.
    ``forward`` returns ``{"pred_boxes": (B, 1, 4) (cx, cy, w, h) / 256 in the search crop,
    "score_tl"/"score_br": (B, 1, 16, 16) raw corner maps}``; w or h may be negative (independent corners).
    """

    def __init__(self, spec: VariantSpec) -> None:
        super().__init__()
        self.variant = spec.name
        self.fused = False
        self.feature_side = SEARCH_SIZE // FEATURE_STRIDE
        self.backbone = nn.ModuleDict({"body": LeViT(spec.backbone, SEARCH_SIZE, TEMPLATE_SIZE)})
        self.box_head = CornerHead(HIDDEN_DIM, HIDDEN_DIM, self.feature_side, FEATURE_STRIDE)
        self.bottleneck = BridgeNeck(spec.backbone.embed_dims, self.feature_side, HIDDEN_DIM)

    def forward_backbone(self, search: Tensor, template: Tensor) -> list[Tensor]:
        """Backbone features ``[xz1 (B, 320, C0), xz2 (B, 80, C1), cxz (B, 21, C2)]`` (search tokens first)."""
        return self.backbone.body(search, template)

    def forward_head(self, features: list[Tensor]) -> dict[str, Tensor]:
        """Neck + head on backbone features; adds ``"neck"`` (257, B, 256), sequence-first as the official one."""
        neck = self.bottleneck(features)
        box, score_tl, score_br = self.box_head(modulate(neck, self.feature_side))
        return {"pred_boxes": box.unsqueeze(1), "score_tl": score_tl, "score_br": score_br, "neck": neck}

    def forward(self, search: Tensor, template: Tensor) -> dict[str, Tensor]:
        if not torch.jit.is_tracing():  # shapes are fixed while tracing for export; checking them only warns
            _check_input("search", search, SEARCH_SIZE)
            _check_input("template", template, TEMPLATE_SIZE)
        outputs = self.forward_head(self.forward_backbone(search, template))
        del outputs["neck"]
        return outputs

    def fuse(self) -> "HiT":
        """Fold every backbone Conv2d+BN / Linear+BN pair into one layer with bias, in place, and switch to eval.

        This is the official inference form (neck and head BNs stay). The fused model's state dict no longer
        has the checkpoint layout, so load checkpoints before fusing. Calling it twice is harmless.
        """
        if not self.fused:
            fuse_conv_linear_bn(self.backbone)
            self.fused = True
        return self.eval()


def _check_input(name: str, image: Tensor, size: int) -> None:
    if image.dim() != 4 or tuple(image.shape[1:]) != (3, size, size):
        raise ConfigError(f"HiT expects {name} of shape (B, 3, {size}, {size}), got {tuple(image.shape)}; "
                          f"crop and resize the {name} region to {size}x{size} first")
