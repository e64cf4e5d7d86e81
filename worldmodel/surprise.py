"""Surprise: how far the world model's one-step prediction misses what then happened.

For an episode of frames ``o_0 .. o_T`` and actions ``a_0 .. a_{T-1}`` (``a_t`` taken after
``o_t``), with embeddings ``z_t = encode(o_t)`` and a predictor of history ``h``, the surprise
of decision ``t`` (for ``t >= h - 1``) is

    s_t = mean over the D dimensions of (predictor(z_{t-h+1} .. z_t, a_t) - z_{t+1})^2

the training loss's squared error, from the true embedding history (teacher forcing, never the
model's own predictions); a predictor with an action history also reads ``a_{t-h+1} ..
a_{t-1}``. An episode of T decisions has ``T - h + 1`` surprises, the first for
decision ``h - 1``. Normalised surprise is ``(s - mean) / std`` with the mean and spread of
surprise on normal episodes (:func:`calibrate`).

Surprise over a horizon ``k`` (``horizon=k``; 1 is the one-step surprise above) predicts
``z_{t+1}`` open loop from the true history that ends ``k - 1`` decisions earlier, ``z_{t-k-h+2}
.. z_{t-k+1}``, through the true actions ``a_{t-k+1} .. a_t``. A fault that changes the
dynamics a little at every step (a heavier body, a dead actuator) is then compared with its
whole effect over k decisions, not one step's share; a jump (a push, a teleport) is whole in
one step and reads best at ``k = 1``, since the model's own error grows with k (docs/results-log.md,
"Surprise"). Its first surprise is for decision ``h + k - 2``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from worldmodel.predictor import rollout
from worldmodel.runtime.errors import InputError

if TYPE_CHECKING:
    from worldmodel.model import WorldModel

ENCODE_CHUNK = 512
"""Frames encoded at once (bounds the memory of long or batched episodes)."""


def surprise(
    model: WorldModel,
    frames: np.ndarray | torch.Tensor,
    actions: np.ndarray | torch.Tensor,
    *,
    normalize: bool = False,
    horizon: int = 1,
) -> torch.Tensor:
    """Surprise per decision of one episode or a batch of equally long episodes.

    Args:
        model: the world model.
        frames: uint8 ``[T+1, H, W, 3]`` or ``[B, T+1, H, W, 3]``.
        actions: ``[T, A]`` or ``[B, T, A]``; action t is taken between frames t and t+1.
        normalize: divide by the spread of normal surprise after subtracting its mean (needs
            :func:`calibrate` on normal episodes first, with the same horizon).
        horizon: decisions predicted open loop (module docstring); 1 is the one-step surprise.

    Returns:
        float32 ``[T - history - horizon + 2]`` (or with a leading ``B``), on the model's device:
        entry j is the surprise of decision ``j + history + horizon - 2``.
    """
    single = np.ndim(frames) == 4
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise InputError(f"surprise's horizon is a number of decisions >= 1, got {horizon!r}")
    horizon = int(horizon)
    frames, actions = _check(model, frames, actions, horizon)  # [B, T+1, H, W, 3], [B, T, A]
    b, length = frames.shape[:2]
    hist = model.history
    n = length - hist - horizon + 1  # predictions per episode: T - history - horizon + 2
    flat = frames.reshape(b * length, *frames.shape[2:])  # [B*(T+1), H, W, 3]
    z = torch.cat([model.encode(chunk) for chunk in flat.split(ENCODE_CHUNK)])
    z = z.view(b, length, -1)  # [B, T+1, D]
    windows = z.unfold(1, hist, 1)[:, :n].transpose(-1, -2)  # [B, n, history, D]
    dtype = next(model.predictor.parameters()).dtype
    ahead = actions.unfold(1, horizon, 1)[:, hist - 1 : hist - 1 + n]  # [B, n, A, k]
    ahead = ahead.transpose(-1, -2).flatten(0, 1).to(dtype)  # [B*n, k, A]
    past = None
    if model.action_history:
        past = actions.unfold(1, hist - 1, 1)[:, :n].transpose(-1, -2)  # [B, n, history-1, A]
        past = past.flatten(0, 1).to(dtype)  # [B*n, history-1, A]
    with torch.no_grad():
        pred = rollout(model.predictor, windows.flatten(0, 1).to(dtype), ahead, past)[:, -1]
    err = (pred.float().view(b, n, -1) - z[:, hist + horizon - 1 :]).pow(2).mean(-1)  # [B, n]
    if normalize:
        if model.surprise_stats is None:
            raise InputError(
                "surprise(normalize=True) needs the spread of surprise on normal data: call "
                "model.calibrate_surprise(frames, actions) on normal episodes first"
            )
        if model.surprise_horizon != horizon:
            raise InputError(
                f"the surprise statistics were measured at horizon {model.surprise_horizon}, "
                f"not {horizon}: call model.calibrate_surprise(frames, actions, {horizon}) first"
            )
        mean, std = model.surprise_stats
        err = (err - mean) / std
    return err[0] if single else err


def calibrate(
    model: WorldModel,
    frames: np.ndarray | torch.Tensor,
    actions: np.ndarray | torch.Tensor,
    horizon: int = 1,
) -> tuple[float, float]:
    """Store on ``model`` (``model.surprise_stats``) and return the mean and standard deviation
    of surprise (over ``horizon``) over every decision of normal episodes ``frames [B, T+1, H,
    W, 3]``, ``actions [B, T, A]`` (or one episode unbatched)."""
    s = surprise(model, frames, actions, horizon=horizon).flatten()  # [B * n]
    if s.numel() < 2:
        raise InputError(
            f"calibration needs at least 2 surprises, got {s.numel()}: give longer or more "
            f"normal episodes (each has T - history + 1 = T - {model.history - 1} surprises)"
        )
    mean, std = float(s.mean()), float(s.std())
    model.surprise_stats = (mean, max(std, 1e-12))
    model.surprise_horizon = horizon
    return model.surprise_stats


def by_decision(s: np.ndarray | torch.Tensor, history: int, horizon: int = 1) -> np.ndarray:
    """Surprise ``[..., T - history - horizon + 2]`` laid out per decision, ``[..., T]`` float64,
    with NaN for the first ``history + horizon - 2`` decisions (they have no full history)."""
    s = s.detach().cpu().numpy() if torch.is_tensor(s) else np.asarray(s)
    pad = np.full((*s.shape[:-1], history + horizon - 2), np.nan)
    return np.concatenate([pad, s.astype(np.float64)], axis=-1)


def _check(
    model: WorldModel,
    frames: np.ndarray | torch.Tensor,
    actions: np.ndarray | torch.Tensor,
    horizon: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``[B, T+1, H, W, 3]`` and actions ``[B, T, A]`` as tensors, or an InputError that
    says which shape was expected."""
    s, a_dim, hist = model.image_size, model.action_dim, model.history
    f_shape, a_shape = tuple(np.shape(frames)), tuple(np.shape(actions))
    want = (
        f"surprise expects frames [T+1, {s}, {s}, 3] with actions [T, {a_dim}] (or both with a "
        f"leading batch axis B), T >= history + horizon - 1 = {hist + horizon - 1}"
    )
    if len(f_shape) not in (4, 5) or f_shape[-3:] != (s, s, 3):
        raise InputError(f"{want}; got frames {f_shape}")
    if len(a_shape) != len(f_shape) - 2 or a_shape[-1] != a_dim:
        raise InputError(f"{want}; got actions {a_shape} for frames {f_shape}")
    if a_shape[:-2] != f_shape[:-4] or a_shape[-2] != f_shape[-4] - 1:
        raise InputError(
            f"{want}; got frames {f_shape} and actions {a_shape}: an episode of T actions has "
            f"T+1 frames (the first before the first action)"
        )
    if a_shape[-2] < hist + horizon - 1:
        raise InputError(f"{want}; got T = {a_shape[-2]} decisions")
    frames = frames if torch.is_tensor(frames) else torch.from_numpy(np.array(frames))
    actions = actions if torch.is_tensor(actions) else torch.as_tensor(np.asarray(actions))
    if actions.is_complex() or actions.dtype == torch.bool:
        raise InputError(f"surprise expects real-valued actions, got {actions.dtype}")
    if frames.ndim == 4:
        frames, actions = frames[None], actions[None]
    return frames, actions.float().to(model.device)
