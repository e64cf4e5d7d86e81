"""Predictors: (embedding history [B, T, D], action [B, A']) -> next embedding [B, D].

All predict a residual on the last embedding. ``rollout`` feeds predictions back for H steps.
The action input A' is the next action (A' = A) or, with ``model.action_history``, the T - 1
actions taken between the history's frames and then the next one, oldest first, flattened
(A' = T * A; :func:`action_input`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from worldmodel.config import ModelConfig
from worldmodel.encoder import CellNorm, grid_channels
from worldmodel.runtime.errors import InputError


class MLPPredictor(nn.Module):
    """The history and the action, concatenated, through an MLP (LayerNorm, GELU)."""

    def __init__(self, embed_dim: int, action_dim: int, history: int, hidden: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = history * embed_dim + action_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, embed_dim))
        self.net = nn.Sequential(*layers)
        last = layers[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, history: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # history [B, T, D], action [B, A] -> [B, D]
        x = torch.cat([history.flatten(1), action], dim=-1)
        return history[:, -1] + self.net(x).float()


class TransformerPredictor(nn.Module):
    """History embeddings as tokens, the action added to every token (a cheap conditioning)."""

    def __init__(self, embed_dim: int, action_dim: int, history: int, hidden: int, depth: int):
        super().__init__()
        self.inp = nn.Linear(embed_dim, hidden)
        self.act = nn.Linear(action_dim, hidden)
        self.pos = nn.Parameter(torch.randn(1, history, hidden) * 0.02)
        block = nn.TransformerEncoderLayer(
            hidden, max(1, hidden // 32), 2 * hidden, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, depth, enable_nested_tensor=False)
        head = nn.Linear(hidden, embed_dim)
        self.out = nn.Sequential(nn.LayerNorm(hidden), head)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)

    def forward(self, history: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # history [B, T, D], action [B, A] -> [B, D]
        tokens = self.inp(history) + self.pos + self.act(action)[:, None]
        mask = nn.Transformer.generate_square_subsequent_mask(
            history.shape[1], device=history.device
        )
        return (
            history[:, -1] + self.out(self.blocks(tokens, mask=mask, is_causal=True)[:, -1]).float()
        )


class ConvPredictor(nn.Module):
    """A predictor that keeps the spatial latent's grid (:class:`worldmodel.encoder.GridEncoder`).

    The history's grids are stacked as channels, with the action broadcast to every cell and
    two coordinate channels, and ``depth`` 3x3 convolutions (a per-cell LayerNorm, GELU;
    ``hidden`` channels) predict the change of the last grid. Each cell sees its neighbourhood, so a
    moving object is predicted where it is, whatever else the frame holds.
    """

    xy: torch.Tensor

    def __init__(
        self, embed_dim: int, action_dim: int, history: int, hidden: int, depth: int, grid: int
    ):
        super().__init__()
        self.c, self.grid = grid_channels(embed_dim, grid), grid
        line = torch.linspace(-1.0, 1.0, grid)
        xy = torch.stack([line[None, :].expand(grid, grid), line[:, None].expand(grid, grid)])
        self.register_buffer("xy", xy[None], persistent=False)  # [1, 2, grid, grid]
        layers: list[nn.Module] = []
        width = history * self.c + action_dim + 2
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, hidden, 3, padding=1), CellNorm(hidden), nn.GELU()]
            width = hidden
        head = nn.Conv2d(width, self.c, 3, padding=1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)  # type: ignore[arg-type]  # conv layers have a bias here
        self.net = nn.Sequential(*layers, head)

    def forward(self, history: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # history [B, T, D], action [B, A] -> [B, D] with D = C * grid * grid
        b, t, _ = history.shape
        g = self.grid
        grids = history.reshape(b, t * self.c, g, g)
        cells = action[:, :, None, None].expand(-1, -1, g, g).to(grids.dtype)
        x = torch.cat([grids, cells, self.xy.expand(b, -1, -1, -1).to(grids.dtype)], dim=1)
        return history[:, -1] + self.net(x).flatten(1).float()


def build_predictor(cfg: ModelConfig, action_dim: int) -> nn.Module:
    history = cfg.history
    assert history is not None, "build_predictor needs the recipe filled in (world_recipe)"
    inputs = action_dim * (history if cfg.action_history else 1)  # A'
    args = (cfg.embed_dim, inputs, history, cfg.hidden, cfg.depth)
    if cfg.predictor == "mlp":
        return MLPPredictor(*args)
    if cfg.predictor == "transformer":
        return TransformerPredictor(*args)
    if cfg.predictor == "conv":
        return ConvPredictor(*args, cfg.grid)
    raise InputError(f"unknown model.predictor={cfg.predictor!r}; choose mlp, transformer or conv")


def action_input(past: torch.Tensor | None, action: torch.Tensor) -> torch.Tensor:
    """The predictor's action input: past [B, T-1, A] (or None: no action history) and the
    next action [B, A] -> [B, T*A] (or the action itself)."""
    if past is None:
        return action
    return torch.cat([past.flatten(1), action.to(past.dtype)], dim=-1)


def action_windows(actions: torch.Tensor, history: int, k: int, with_past: bool) -> torch.Tensor:
    """The action inputs of the k one-step predictions of a sequence: actions [B, L-1, A]
    (action t taken after frame t) -> [B, k, A'] for the windows of frames i .. i + history - 1,
    i = 0 .. k-1: the action after each window's last frame, and before it, with ``with_past``,
    the history - 1 actions between the window's frames."""
    if not with_past:
        return actions[:, history - 1 : history - 1 + k]  # [B, k, A]
    windows = actions.unfold(1, history, 1)[:, :k]  # [B, k, A, T]
    return windows.transpose(-1, -2).flatten(2)  # [B, k, T*A], oldest first


def episode_windows(
    z: torch.Tensor,
    actions: torch.Tensor,
    history: int,
    horizon: int,
    with_past: bool,
    stride: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The windows of a set of episodes, one every ``stride`` steps: z [E, T+1, D], actions
    [E, T, A] (action t after frame t) -> the history [N, history, D], the next ``horizon``
    actions [N, horizon, A], the actions between the history's frames [N, history - 1, A]
    (None without ``with_past``) and the true embeddings that follow [N, horizon, D], with
    N = E * windows per episode (episode-major). Raises ValueError where an episode is too
    short for one window."""
    starts = range(0, actions.shape[1] - history - horizon + 2, stride)
    if not starts:
        raise ValueError(
            f"episodes of {actions.shape[1]} steps hold no window of {history} frames and "
            f"{horizon} steps after them"
        )

    def gather(x: torch.Tensor, offset: int, length: int) -> torch.Tensor:
        return torch.stack([x[:, s + offset : s + offset + length] for s in starts], 1).flatten(
            0, 1
        )

    past = gather(actions, 0, history - 1) if with_past else None
    return (
        gather(z, 0, history),
        gather(actions, history - 1, horizon),
        past,
        gather(z, history, horizon),
    )


def rollout(
    predictor: Callable[..., torch.Tensor],
    history: torch.Tensor,
    actions: torch.Tensor,
    past: torch.Tensor | None = None,
) -> torch.Tensor:
    """Autoregressive rollout: history [B, T, D], actions [B, H, A] -> predictions [B, H, D].

    ``past [B, T-1, A]``: the actions taken between the history's frames, for a predictor with
    an action history (None for one without); they shift along with the predictions.
    """
    preds = []
    for h in range(actions.shape[1]):
        z = predictor(history, action_input(past, actions[:, h]))  # [B, D]
        preds.append(z)
        history = torch.cat([history[:, 1:], z[:, None].to(history.dtype)], dim=1)
        if past is not None:
            past = torch.cat([past[:, 1:], actions[:, h : h + 1].to(past.dtype)], dim=1)
    return torch.stack(preds, dim=1)
