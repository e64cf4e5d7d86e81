"""The decoder of the reconstruction objective: embeddings [B, D] -> pixels [B, 3, H, W].

It mirrors :class:`worldmodel.encoder.CNNEncoder`: a linear map to the encoder's last feature
grid, then four stride-2 transposed convolutions (GroupNorm, GELU between them) back to the
image size. Its output is in the encoder's input range (``frames_to_input``: pixel / 255 - 0.5,
-0.5 .. 0.5) and is not squashed, as PlaNet's and Dreamer's Gaussian image means are not;
:func:`to_frames` turns it back into uint8 frames. Planning never uses it.
"""

from __future__ import annotations

import torch
from torch import nn

from worldmodel.runtime.errors import InputError

STAGES = 4
"""Stride-2 stages, as in the CNN encoder."""


class CNNDecoder(nn.Module):
    """Linear D -> [8C, S/16, S/16], then four transposed convolutions to [3, S, S]."""

    def __init__(self, image_size: int, channels: int, embed_dim: int):
        super().__init__()
        side = image_size // 2**STAGES
        if side < 1 or image_size % 2**STAGES:
            raise InputError(
                f"env.image_size={image_size} cannot be decoded by the CNN mirror; "
                f"model.objective=reconstruction needs a multiple of {2**STAGES}"
            )
        widths = [channels * 2**i for i in range(STAGES)][::-1]  # e.g. [256, 128, 64, 32]
        self.grid = (widths[0], side, side)
        self.head = nn.Linear(embed_dim, widths[0] * side * side)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:] + [3]):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
            if c_out != 3:
                layers += [nn.GroupNorm(8 if c_out % 8 == 0 else 1, c_out), nn.GELU()]
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, D] -> [B, 3, H, W]
        x = self.head(z).view(z.shape[0], *self.grid)  # [B, 8C, S/16, S/16]
        return self.deconv(x).float()


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """Decoder output [..., 3, H, W] (-0.5 .. 0.5) -> uint8 frames [..., H, W, 3], clipped."""
    return x.add(0.5).mul(255.0).round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)
