"""Encoders: pixels [B, 3, H, W] in [0, 1] -> embeddings [B, D]."""

from __future__ import annotations

import math

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

    def __init__(self, image_size: int, channels: int, embed_dim: int, temperature: float = 1.0):
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
        # The softmax's inverse temperature, learned from ``temperature``: at 1 the maps' logits
        # (std about 0.5 in trained reacher models) give nearly uniform attention, so a
        # "keypoint" is a soft moment of the whole frame (model.keypoint_temperature).
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, K, side²]
        """Each keypoint's softmax over the cells of its map (what its x and y average)."""
        maps = self.conv(x).flatten(2).float()  # [B, K, side * side]
        return torch.softmax(maps * self.log_temperature.exp(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, D]
        attention = self.attention(x)
        kx, ky = attention @ self.xs, attention @ self.ys  # [B, K] each
        return self.norm(torch.cat([kx, ky], dim=1))


class CNNKeypointEncoder(nn.Module):
    """Both views side by side: the CNN's global features (D/2) and D/4 keypoints (their D/2
    coordinates), each branch with its own normalization, concatenated into [B, D].

    On cheetah/run the two code different columns: keypoints read the small front foot that the
    CNN's global head leaves out (R² 0.81-0.90 against 0.49-0.59), and the CNN at SIGReg 0.01
    reads the torso's pitch, which keypoints, local features, follow only bent (0.95 against
    0.70-0.77). Together, at SIGReg 0.1, they are cheetah/run's default (docs/results-log.md).
    """

    def __init__(self, image_size: int, channels: int, embed_dim: int, temperature: float = 1.0):
        super().__init__()
        if embed_dim % 4:
            raise InputError(
                f"model.embed_dim={embed_dim} must be a multiple of 4 for "
                "model.encoder=cnn_keypoints (half CNN features, half keypoint x and y)"
            )
        self.cnn = CNNEncoder(image_size, channels, embed_dim // 2)
        self.keypoints = KeypointEncoder(image_size, channels, embed_dim // 2, temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, D]
        return torch.cat([self.cnn(x), self.keypoints(x)], dim=1)


class CellNorm(nn.LayerNorm):
    """LayerNorm over the channels of each cell of a map [B, C, h, w] (no mixing of cells)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, h, w] -> [B, C, h, w]
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class GridEncoder(nn.Module):
    """A spatial latent: stride-2 conv stages down to a ``grid x grid`` map of C = D / grid²
    channels, flattened channel-major into the embedding [B, D] (``z.view(B, C, grid, grid)``
    gives the map back). A BatchNorm2d (no affine) shares each channel's statistics over cells.

    A global linear head (:class:`CNNEncoder`) may drop a small object that moves; here every
    cell keeps its own features, so the object's cell and its neighbours change as it moves,
    and the goal cost compares the grids cell by cell (DINO-WM plans on patch features the
    same way). Its normalization is per cell (:class:`CellNorm`, not GroupNorm, whose statistics
    over the whole map would let a small object shift every cell), so a cell sees only its
    receptive field. Pair it with ``model.predictor=conv``, which keeps the grid.
    """

    def __init__(self, image_size: int, channels: int, embed_dim: int, grid: int):
        super().__init__()
        self.c, self.grid = grid_channels(embed_dim, grid), grid
        if image_size % grid or (image_size // grid) & (image_size // grid - 1):
            raise InputError(
                f"env.image_size={image_size} is not model.grid={grid} times a power of two; "
                f"use model.grid={max(1, image_size // 8)}"
            )
        layers: list[nn.Module] = []
        c_in, size = 3, image_size
        while size > grid:
            layers += [
                nn.Conv2d(c_in, channels, 4, stride=2, padding=1),
                CellNorm(channels),
                nn.GELU(),
            ]
            c_in, size = channels, size // 2
        layers += [
            nn.Conv2d(c_in, channels, 3, padding=1),
            CellNorm(channels),
            nn.GELU(),
            nn.Conv2d(channels, self.c, 1),
        ]
        self.conv = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(self.c, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, C * grid * grid]
        return self.norm(self.conv(x).float()).flatten(1)


def grid_channels(embed_dim: int, grid: int) -> int:
    """C of a ``grid x grid`` spatial latent of D = ``embed_dim`` numbers (D = C * grid²)."""
    if grid < 1 or embed_dim % (grid * grid):
        raise InputError(
            f"model.embed_dim={embed_dim} is not a multiple of the model.grid={grid} cells "
            f"({grid}x{grid}); set model.embed_dim={8 * grid * grid} (8 channels a cell) "
            "or change model.grid"
        )
    return embed_dim // (grid * grid)


def build_encoder(cfg: ModelConfig, image_size: int) -> nn.Module:
    if cfg.encoder == "cnn":
        return CNNEncoder(image_size, cfg.channels, cfg.embed_dim)
    if cfg.encoder == "vit":
        return ViTEncoder(
            image_size, cfg.patch_size, max(32, cfg.channels * 2), cfg.vit_depth, cfg.embed_dim
        )
    if cfg.encoder == "keypoints":
        return KeypointEncoder(image_size, cfg.channels, cfg.embed_dim, cfg.keypoint_temperature)
    if cfg.encoder == "cnn_keypoints":
        return CNNKeypointEncoder(image_size, cfg.channels, cfg.embed_dim, cfg.keypoint_temperature)
    if cfg.encoder == "grid":
        return GridEncoder(image_size, cfg.channels, cfg.embed_dim, cfg.grid)
    raise InputError(
        f"unknown model.encoder={cfg.encoder!r}; choose cnn, vit, keypoints, cnn_keypoints or grid"
    )
