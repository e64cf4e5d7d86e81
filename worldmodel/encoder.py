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


class KeypointEncoder(nn.Module):
    """Convolutions at half resolution, then a spatial softmax: each of D/2 feature maps
    becomes the expected (x, y) of its activation, a keypoint; the D coordinates go through a
    BatchNorm (no affine) as in :class:`CNNEncoder`.

    A small object (point_mass's 2-pixel mass) lights up a few cells of some map, and its
    keypoint then moves linearly with the object: position is coded by construction, which a
    global linear head over a downsampled grid may drop (the deep spatial autoencoders of
    Finn et al. 2016 and Levine et al.'s visuomotor policies use the same layer).
    """

    xs: torch.Tensor
    ys: torch.Tensor

    def __init__(self, image_size: int, channels: int, embed_dim: int):
        super().__init__()
        if embed_dim % 2:
            raise InputError(
                f"model.embed_dim={embed_dim} must be even for model.encoder=keypoints "
                "(an x and a y per keypoint)"
            )
        if image_size < 8:
            raise InputError(f"env.image_size={image_size} is too small for keypoints (>= 8)")
        k = embed_dim // 2
        self.conv = nn.Sequential(
            nn.Conv2d(3, channels, 4, stride=2, padding=1),
            nn.GroupNorm(8 if channels % 8 == 0 else 1, channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8 if channels % 8 == 0 else 1, channels),
            nn.GELU(),
            nn.Conv2d(channels, k, 3, padding=1),
        )
        side = image_size // 2
        grid = torch.linspace(-1.0, 1.0, side)
        self.register_buffer("xs", grid[None, :].expand(side, side).reshape(-1), persistent=False)
        self.register_buffer("ys", grid[:, None].expand(side, side).reshape(-1), persistent=False)
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, D]
        maps = self.conv(x).flatten(2).float()  # [B, K, side * side]
        attention = torch.softmax(maps * self.log_temperature.exp(), dim=-1)
        kx, ky = attention @ self.xs, attention @ self.ys  # [B, K] each
        return self.norm(torch.cat([kx, ky], dim=1))


def build_encoder(cfg: ModelConfig, image_size: int) -> nn.Module:
    if cfg.encoder == "cnn":
        return CNNEncoder(image_size, cfg.channels, cfg.embed_dim)
    if cfg.encoder == "vit":
        return ViTEncoder(
            image_size, cfg.patch_size, max(32, cfg.channels * 2), cfg.vit_depth, cfg.embed_dim
        )
    if cfg.encoder == "keypoints":
        return KeypointEncoder(image_size, cfg.channels, cfg.embed_dim)
    raise InputError(f"unknown model.encoder={cfg.encoder!r}; choose cnn, vit or keypoints")
