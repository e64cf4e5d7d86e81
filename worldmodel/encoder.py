"""Encoders: pixels [B, 3, H, W] in [0, 1] -> embeddings [B, D]."""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.config import ModelConfig
from worldmodel.runtime.errors import InputError


class CNNEncoder(nn.Module):
    """Four stride-2 conv stages (GroupNorm, GELU), then a linear map to D and a BatchNorm.

    The BatchNorm (no affine) keeps each embedding dimension centred with unit scale, the
    operating point SIGReg and VICReg push towards; in eval mode it uses running statistics.
    """

    def __init__(self, image_size: int, channels: int, embed_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c = 3, channels
        size = image_size
        for _ in range(4):
            layers += [
                nn.Conv2d(c_in, c, 4, stride=2, padding=1),
                nn.GroupNorm(8 if c % 8 == 0 else 1, c),
                nn.GELU(),
            ]
            c_in, c, size = c, c * 2, size // 2
        if size < 1:
            raise InputError(
                f"env.image_size={image_size} is too small for the CNN encoder (needs >= 16)"
            )
        self.conv = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * size * size, embed_dim)
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, D]
        return self.norm(self.head(self.conv(x).flatten(1)).float())


class ViTEncoder(nn.Module):
    """A small ViT: patch embedding, pre-norm transformer blocks, mean pooling, linear to D."""

    def __init__(self, image_size: int, patch: int, width: int, depth: int, embed_dim: int):
        super().__init__()
        if image_size % patch:
            raise InputError(
                f"env.image_size={image_size} is not a multiple of model.patch_size={patch}"
            )
        n = (image_size // patch) ** 2
        self.patch = nn.Conv2d(3, width, patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, n, width) * 0.02)
        block = nn.TransformerEncoderLayer(
            width, max(1, width // 32), 4 * width, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, embed_dim))
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, D]
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos  # [B, N, W]
        return self.norm(self.out(self.blocks(tokens).mean(1)).float())


def build_encoder(cfg: ModelConfig, image_size: int) -> nn.Module:
    if cfg.encoder == "cnn":
        return CNNEncoder(image_size, cfg.channels, cfg.embed_dim)
    if cfg.encoder == "vit":
        return ViTEncoder(
            image_size, cfg.patch_size, max(32, cfg.channels * 2), cfg.vit_depth, cfg.embed_dim
        )
    raise InputError(f"unknown model.encoder={cfg.encoder!r}; choose cnn or vit")
