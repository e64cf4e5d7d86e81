"""Diagnostics of a world model on held-out episodes.

- embedding statistics: per-dimension standard deviation, effective rank, and the share of
  embedding variance that lies *within* episodes (near 0 = the encoder ignores what moves);
- open-loop latent prediction error at horizons 1..K next to the copy-the-last-embedding baseline;
- linear-probe R^2 from embedding to privileged state features (ridge fit on training episodes),
  and beside it a quadratic probe's, which tells a state the embedding leaves out from one it
  codes nonlinearly, from one frame and from the predictor's history (a rate such as an angle's
  velocity is a product of two frames' codes).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from worldmodel.data import EpisodeDataset
from worldmodel.encoder import KeypointEncoder
from worldmodel.model import WorldModel, frames_to_input
from worldmodel.objectives import effective_rank, within_episode_share
from worldmodel.predictor import episode_windows

QUADRATIC_COMPONENTS = 32
"""Principal components of the embedding whose pairwise products the quadratic probe adds
(32 give 32 + 528 features, whatever the embedding's width)."""
HISTORY_QUADRATIC_COMPONENTS = 48
"""Principal components of the last ``history`` embeddings together whose pairwise products the
quadratic history probe adds (48 give 48 + 1176 features). A joint's rate is a product of two
frames' codes (the change of sin q is cos q times the change of q), which no linear probe reads:
on reacher's history of 2 the probe reads the joint velocities at R^2 0.94 / 0.87 with 48, 0.90
/ 0.58 with 32, where the linear one reads 0 (docs/results-log.md)."""
ROWS_PER_QUADRATIC_FEATURE = 10
"""Training frames the quadratic probe needs per input; with fewer frames it uses fewer
components (a small data set, as in the debug preset, would otherwise be fit by chance)."""


@torch.no_grad()
def encode_episodes(
    model: WorldModel, dataset: EpisodeDataset, episodes: np.ndarray, chunk: int = 256
) -> torch.Tensor:
    """Embeddings of every frame of the given episodes: [E, T+1, D] (on CPU, float32)."""
    out = []
    for e in episodes:
        frames = dataset.episode(int(e)).obs  # [T+1, H, W, 3]
        z = torch.cat(
            [
                model.encode(np.asarray(frames[i : i + chunk])).cpu()
                for i in range(0, len(frames), chunk)
            ]
        )
        out.append(z)
    return torch.stack(out)


def episode_actions(dataset: EpisodeDataset, episodes: np.ndarray) -> torch.Tensor:
    """The actions of the given episodes: [E, T, A] (on CPU, float32)."""
    return torch.from_numpy(
        np.stack([np.asarray(dataset.episode(int(e)).actions) for e in episodes])
    )


def embedding_stats(z: torch.Tensor) -> dict:
    """z [E, T, D] -> std per dimension, effective rank, within-episode variance share."""
    flat = z.flatten(0, 1)
    std = flat.std(0)
    return {
        "embed_std_per_dim": [round(float(s), 4) for s in std],
        "embed_std_mean": float(std.mean()),
        "embed_std_min": float(std.min()),
        "effective_rank": effective_rank(flat),
        "within_episode_var_share": within_episode_share(z),
    }


@torch.no_grad()
def rollout_errors(
    model: WorldModel, z: torch.Tensor, actions: torch.Tensor, horizon: int, stride: int = 5
) -> dict:
    """Open-loop MSE per horizon h = 1..horizon, and the copy-last baseline at each h.

    z [E, T+1, D] true embeddings, actions [E, T, A]. Windows start every ``stride`` steps.
    """
    try:  # [E*S, T, D], [E*S, K, A], [E*S, T-1, A], [E*S, K, D]
        h0, acts, past, truth = episode_windows(z, actions, model.history, horizon, True, stride)
    except ValueError:  # episodes too short for one window
        return {}
    assert past is not None  # with_past=True; a model without an action history ignores it
    dev = model.device
    pred = model.rollout(h0.to(dev), acts.to(dev), past.to(dev)).float().cpu()
    err = ((pred - truth) ** 2).mean(dim=(0, 2))  # [K]
    copy = ((h0[:, -1:] - truth) ** 2).mean(dim=(0, 2))  # [K]
    return {
        "rollout_mse": [float(e) for e in err],
        "copy_last_mse": [float(c) for c in copy],
        "copy_over_rollout": [float(c / max(float(e), 1e-12)) for c, e in zip(copy, err)],
    }


def ridge_sums(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    alpha: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit y = W x + b by ridge regression; per output column of the test set, the residual
    and the total sum of squares, ``([Y], [Y])``: every R^2 of the fit follows from them."""
    mu_x, mu_y = x_train.mean(0), y_train.mean(0)
    xc, yc = x_train - mu_x, y_train - mu_y
    w = np.linalg.solve(xc.T @ xc + alpha * len(xc) * np.eye(xc.shape[1]), xc.T @ yc)
    pred = (x_test - mu_x) @ w + mu_y
    return ((y_test - pred) ** 2).sum(0), ((y_test - y_test.mean(0)) ** 2).sum(0)


def r2_total(ss_res: np.ndarray, ss_tot: np.ndarray) -> float:
    """R^2 over all columns, each weighted by its variance, from :func:`ridge_sums`."""
    return float(1 - ss_res.sum() / max(ss_tot.sum(), 1e-12))


def r2_columns(ss_res: np.ndarray, ss_tot: np.ndarray) -> list[float]:
    """One R^2 per column, from :func:`ridge_sums`."""
    return [float(1 - r / max(t, 1e-12)) for r, t in zip(ss_res, ss_tot)]


def error_shares(ss_res: np.ndarray) -> list[float]:
    """Each column's share of the residual sum of squares of a multi-column fit, from
    :func:`ridge_sums`: which columns keep the variance-weighted R^2 (:func:`r2_total`) below 1."""
    return [float(r / max(ss_res.sum(), 1e-12)) for r in ss_res]


def ridge_r2(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    alpha: float = 1e-3,
    per_dim: bool = False,
) -> float | list[float]:
    """Fit y = W x + b by ridge regression; R^2 on the test set over all output dimensions
    (each weighted by its variance), or with ``per_dim`` one R^2 per output dimension."""
    sums = ridge_sums(x_train, y_train, x_test, y_test, alpha)
    return r2_columns(*sums) if per_dim else r2_total(*sums)


def diagnose(
    model: WorldModel,
    dataset: EpisodeDataset,
    train_eps: np.ndarray,
    val_eps: np.ndarray,
    state_features: Callable[[np.ndarray], dict[str, np.ndarray]] | None,
    horizon: int,
    max_episodes: int = 30,
    fit_episodes: int = 300,
) -> dict:
    """All diagnostics on up to ``max_episodes`` held-out episodes; the linear probes are fit
    on up to ``fit_episodes`` training episodes, spread over the data set (a feature constant
    in an episode has one value per episode, so it needs many episodes to fit)."""
    val = val_eps[:max_episodes]
    z_val = encode_episodes(model, dataset, val)
    out = embedding_stats(z_val)
    out.update(rollout_errors(model, z_val, episode_actions(dataset, val), horizon))
    if state_features is not None:
        tr = train_eps[
            np.linspace(0, len(train_eps) - 1, min(len(train_eps), fit_episodes)).astype(int)
        ]
        z_tr = encode_episodes(model, dataset, tr)
        s_tr = np.stack([np.asarray(dataset.episode(int(e)).states) for e in tr])  # [E, T+1, S]
        s_val = np.stack([np.asarray(dataset.episode(int(e)).states) for e in val])
        out["probe_fit_episodes"] = len(tr)
        one_frame = _probe_sums(z_tr, s_tr, z_val, s_val, state_features, 1)
        out["probe_r2"] = {k: r2_total(*v) for k, v in one_frame.items()}
        # What the predictor reads: the last `history` embeddings (velocity needs two frames).
        out["probe_r2_history"] = _probe(z_tr, s_tr, z_val, s_val, state_features, model.history)
        # Which part of a feature is missing (e.g. one joint of several): R^2 per column.
        out["probe_r2_per_dim"] = {k: r2_columns(*v) for k, v in one_frame.items()}
        # What the overall R^2 misses, and where: a column of little variance can read low and
        # cost the total nothing (swimmer's root position), another read well cost it most.
        out["probe_error_share_per_dim"] = {k: error_shares(v[0]) for k, v in one_frame.items()}
        # Coded, but not linearly? SIGReg shapes the embedding's marginals toward a Gaussian,
        # which can bend a state that is spread evenly (docs/results-log.md, "Each world's recipe").
        probe = partial(_quadratic_probe, z_tr, s_tr, z_val, s_val, state_features)
        out.update(probe(1, QUADRATIC_COMPONENTS, "quadratic"))
        # A rate from the history: a product of two frames' codes for an angle coded by its
        # sine and cosine, so the linear history probe reads it at 0 even when it is there.
        if model.history > 1:
            out.update(probe(model.history, HISTORY_QUADRATIC_COMPONENTS, "history_quadratic"))
    out.update(keypoint_attention(model, np.asarray(dataset.episode(int(val[0])).obs)))
    out["collapse_warning"] = collapse_warning(out, model.embed_dim)
    return out


@torch.no_grad()
def keypoint_attention(model: WorldModel, frames: np.ndarray) -> dict:
    """For an encoder with a spatial softmax (keypoints, cnn_keypoints): the median over
    ``frames`` [T, H, W, 3] (uint8) and keypoints of each keypoint's largest attention weight,
    beside the uniform 1 / cells; {} for other encoders. Near uniform, a "keypoint" is a soft
    moment of the whole frame rather than a part of the scene (model.keypoint_temperature)."""
    spatial = [m for m in model.encoder.modules() if isinstance(m, KeypointEncoder)]
    if not spatial:
        return {}
    x = frames_to_input(torch.from_numpy(frames[:256]).to(model.device))
    attention = spatial[0].attention(x)  # [T, K, cells]
    return {
        "keypoint_peak_attention": float(attention.amax(-1).median()),
        "keypoint_uniform_attention": 1.0 / attention.shape[-1],
        "keypoint_temperature": float(spatial[0].log_temperature.exp()),
    }


def _probe(z_tr, s_tr, z_val, s_val, state_features, k: int) -> dict[str, float]:
    """Ridge-probe R^2 per feature from the concatenated last ``k`` embeddings [E, T+1, D]."""
    sums = _probe_sums(z_tr, s_tr, z_val, s_val, state_features, k)
    return {k_: r2_total(*v) for k_, v in sums.items()}


def _quadratic_probe(z_tr, s_tr, z_val, s_val, state_features, k: int, most: int, name: str):
    """The quadratic probe of the last ``k`` embeddings (at most ``most`` components) as
    ``probe_{name}_components``, ``probe_r2_{name}`` and ``probe_r2_{name}_per_dim``; {} when
    there are too few training frames for one component."""
    rows = z_tr.shape[0] * (z_tr.shape[1] - k + 1)
    c = quadratic_components(rows, z_tr.shape[-1] * k, most)
    if c == 0:
        return {}
    expand = partial(quadratic_features, components=c)
    quad = _probe_sums(z_tr, s_tr, z_val, s_val, state_features, k, expand)
    return {
        f"probe_{name}_components": c,
        f"probe_r2_{name}": {f: r2_total(*v) for f, v in quad.items()},
        f"probe_r2_{name}_per_dim": {f: r2_columns(*v) for f, v in quad.items()},
    }


def quadratic_components(rows: int, width: int, most: int = QUADRATIC_COMPONENTS) -> int:
    """Principal components for the quadratic probe of ``rows`` training frames of a
    ``width``-d input: at most ``most`` and ``width``, and few enough that each input has
    :data:`ROWS_PER_QUADRATIC_FEATURE` frames; 0 = too few frames."""
    c = min(most, width)
    while c > 0 and (c + c * (c + 1) // 2) * ROWS_PER_QUADRATIC_FEATURE > rows:
        c -= 1
    return c


def quadratic_features(
    x_train: np.ndarray, x_test: np.ndarray, components: int = QUADRATIC_COMPONENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of the quadratic probe: ``[N, D]`` -> ``[N, c + c(c+1)/2]``, the top ``c =
    min(components, D)`` principal components of the training rows scaled to unit variance,
    then every product of two of them (squares included). Fit on ``x_train`` only."""
    mu = x_train.mean(0)
    _, sv, vt = np.linalg.svd(x_train - mu, full_matrices=False)
    c = min(components, vt.shape[0])
    scale = np.maximum(sv[:c] / np.sqrt(max(len(x_train) - 1, 1)), 1e-8)
    iu = np.triu_indices(c)

    def expand(x: np.ndarray) -> np.ndarray:
        p = (x - mu) @ vt[:c].T / scale  # [N, c]
        return np.concatenate([p, (p[:, :, None] * p[:, None, :])[:, iu[0], iu[1]]], axis=1)

    return expand(x_train), expand(x_test)


def _probe_sums(
    z_tr,
    s_tr,
    z_val,
    s_val,
    state_features,
    k: int,
    transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One ridge probe per feature from the last ``k`` embeddings: ``{feature: ridge_sums}``;
    ``transform`` maps the (train, test) inputs first (e.g. :func:`quadratic_features`)."""

    def windows(z: torch.Tensor, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.cat(
            [z[:, i : z.shape[1] - k + 1 + i] for i in range(k)], dim=-1
        )  # [E, T+2-k, k*D]
        return x.flatten(0, 1).numpy(), s[:, k - 1 :].reshape(-1, s.shape[-1])

    x_tr, st_tr = windows(z_tr, s_tr)
    x_val, st_val = windows(z_val, s_val)
    if transform is not None:
        x_tr, x_val = transform(x_tr, x_val)
    f_tr, f_val = state_features(st_tr), state_features(st_val)
    # Features constant on the held-out frames (e.g. a target never drawn) have no R^2.
    names = [k_ for k_ in f_tr if f_val[k_].var(0).sum() > 1e-10]
    if not names:
        return {}
    # One fit for every column of every feature: ridge solves each output column on its own,
    # so this is the per-feature fit with X^T X formed and factored once.
    res, tot = ridge_sums(
        x_tr,
        np.concatenate([f_tr[k_] for k_ in names], axis=1),
        x_val,
        np.concatenate([f_val[k_] for k_ in names], axis=1),
    )  # [sum of widths] each
    cuts = np.cumsum([f_tr[k_].shape[1] for k_ in names])[:-1]
    return dict(zip(names, zip(np.split(res, cuts), np.split(tot, cuts), strict=True), strict=True))


def collapse_warning(stats: dict, embed_dim: int) -> str | None:
    """A sentence when the embedding looks collapsed or blind to motion, else None."""
    if stats["effective_rank"] < max(2.0, 0.1 * embed_dim):
        return f"effective rank {stats['effective_rank']:.1f} of {embed_dim}: the embedding has collapsed to few directions"
    if stats["within_episode_var_share"] < 0.05:
        return (
            f"only {stats['within_episode_var_share']:.1%} of embedding variance is within episodes: "
            "the encoder ignores what the actions move"
        )
    return None


def headline(stats: dict) -> str:
    """One or two lines summarising the diagnostics for the console."""
    parts = [
        f"eff. rank {stats['effective_rank']:.1f}",
        f"within-episode var {stats['within_episode_var_share']:.2f}",
    ]
    if "copy_over_rollout" in stats:
        ratio = stats["copy_over_rollout"]
        parts.append(
            f"rollout err vs copy-last: {ratio[0]:.1f}x better at 1 step, {ratio[-1]:.1f}x at {len(ratio)}"
        )
    if stats.get("probe_r2"):
        parts.append("probe R2 " + ", ".join(f"{k} {v:.2f}" for k, v in stats["probe_r2"].items()))
    if stats.get("probe_r2_history"):
        parts.append(
            "from the history: "
            + ", ".join(f"{k} {v:.2f}" for k, v in stats["probe_r2_history"].items())
        )
    if stats.get("probe_r2_quadratic"):
        parts.append(
            "quadratic probe: "
            + ", ".join(f"{k} {v:.2f}" for k, v in stats["probe_r2_quadratic"].items())
        )
    if stats.get("probe_r2_history_quadratic"):
        parts.append(
            "quadratic from the history: "
            + ", ".join(f"{k} {v:.2f}" for k, v in stats["probe_r2_history_quadratic"].items())
        )
    if "keypoint_peak_attention" in stats:
        parts.append(
            f"keypoints' peak attention {stats['keypoint_peak_attention']:.3f} "
            f"(uniform {stats['keypoint_uniform_attention']:.4f})"
        )
    line = "; ".join(parts)
    if stats.get("collapse_warning"):
        line += f"\nWARNING: {stats['collapse_warning']}"
    return line
