"""Losses in embedding space: prediction, anti-collapse regularizers, inverse dynamics.

Every regularizer works on the *global* batch under DDP (``distributed.gather``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.runtime.device import to_device
from worldmodel.runtime.distributed import gather


def sigreg(
    z: torch.Tensor,
    projections: int = 256,
    knots: int = 17,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sketched isotropic-Gaussian regularizer (SIGReg, LeJEPA): z [N, D] -> scalar.

    Projects the embeddings on random unit directions and, for each 1-D projection, measures the
    Epps-Pulley distance between its empirical characteristic function and that of N(0, 1):
    N times the integral over t in [-5, 5] of |phi_emp(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt
    (trapezoid rule, symmetric so only t >= 0 is evaluated), averaged over projections. Scaling by
    the (global) batch size N, as LeJEPA's test statistic does, keeps published weights
    meaningful: for z ~ N(0, I) the value stays near its finite-sample floor of about 1 whatever
    N is, while collapsed or anisotropic embeddings score O(N). Directions come from
    ``generator`` so that all DDP ranks use the same ones.
    """
    z = gather(z.float())  # [N, D]
    # drawn on the CPU, so the same on every device
    dirs = torch.randn(z.shape[1], projections, generator=generator, device="cpu")
    dirs = to_device(dirs, z.device)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    x = z @ dirs  # [N, P]
    t = torch.linspace(0, 5, knots, device=z.device)  # [K]
    xt = x[..., None] * t  # [N, P, K]
    real, imag = torch.cos(xt).mean(0), torch.sin(xt).mean(0)  # [P, K]
    target = torch.exp(-0.5 * t**2)
    err = ((real - target) ** 2 + imag**2) * target  # [P, K]
    integral = torch.trapezoid(err, t, dim=-1) * 2  # both signs of t
    return integral.mean() * z.shape[0]


def temporal_sigreg(
    z: torch.Tensor, projections: int = 256, generator: torch.Generator | None = None
) -> torch.Tensor:
    """SIGReg on embeddings centred over the time axis of each sequence: z [B, L, D] -> scalar.

    ``z - mean_t z`` (scaled by sqrt(L / (L - 1)) so that its variance is the within-sequence
    variance) holds only what changes within a sequence. An encoder that codes only what is
    constant in an episode makes it zero, the farthest point from N(0, I): so this term is
    satisfied only by an embedding whose every direction moves within episodes.
    """
    length = z.shape[1]
    if length < 2:
        raise ValueError(f"temporal_sigreg needs sequences of at least 2 frames, got {length}")
    centred = (z - z.mean(dim=1, keepdim=True)) * math.sqrt(length / (length - 1))
    return sigreg(centred.flatten(0, 1), projections, generator=generator)


def sequence_contrast(
    pred: torch.Tensor, z: torch.Tensor, history: int, temperature: float = 0.1
) -> torch.Tensor:
    """Action-conditioned contrast within each sequence (InfoNCE): pred [B, K, D] (the
    predictions of frames history .. history+K-1), z [B, L, D] -> scalar.

    Each prediction must pick out its own next frame among every frame of its sequence, the
    history's last frame (copy-last) included, with logits -|pred - z_j|^2 / (D * temperature).
    Frames of one sequence share everything that is constant in the episode (a drawn target,
    the light, the floor), so only what changed between them, which the actions drove, can
    tell them apart: an embedding of episode constants scores log(L), the loss of a guess.
    """
    b, k, d = pred.shape
    if z.shape[1] != history + k:
        raise ValueError(
            f"{k} predictions after a history of {history} need {history + k} "
            f"frames, got {z.shape[1]}"
        )
    dist = (pred.float()[:, :, None] - z.float()[:, None]).pow(2).sum(-1)  # [B, K, L]
    logits = -dist / (d * temperature)
    target = torch.arange(history, history + k, device=z.device).expand(b, k)  # [B, K]
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def within_episode_share(z: torch.Tensor) -> float:
    """Share of the variance of z [E, T, D] that lies within episodes (0: only episode
    constants are coded, 1: nothing is constant per episode)."""
    flat = z.flatten(0, 1).float()
    total = flat.var(0).sum()
    within = z.float().var(1).mean(0).sum()
    return float(within / total.clamp_min(1e-12))


def vicreg(
    z: torch.Tensor, std_weight: float = 1.0, cov_weight: float = 0.04, eps: float = 1e-4
) -> torch.Tensor:
    """VICReg variance hinge plus off-diagonal covariance penalty (as in PLDM): z [N, D] -> scalar.

    Near zero for z ~ N(0, I); the hinge is 1 per dimension for collapsed embeddings.
    """
    z = gather(z.float())
    z = z - z.mean(0)
    std = torch.sqrt(z.var(0) + eps)
    var_loss = F.relu(1 - std).mean()
    n, d = z.shape
    cov = (z.T @ z) / max(n - 1, 1)
    off = cov - torch.diag(torch.diag(cov))
    cov_loss = (off**2).sum() / d
    return std_weight * var_loss + cov_weight * cov_loss


class InverseDynamics(nn.Module):
    """Predicts the action between two consecutive embeddings: ([B, D], [B, D]) -> [B, A]."""

    def __init__(self, embed_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * embed_dim, hidden), nn.GELU(), nn.Linear(hidden, action_dim)
        )

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, z_next], dim=-1))


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """target <- decay * target + (1 - decay) * online (parameters); buffers are copied."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.lerp_(o.detach(), 1 - decay)
    for tb, ob in zip(target.buffers(), online.buffers()):
        tb.copy_(ob)


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of centred z [N, D]: 1 (collapsed) .. D."""
    z = z.float() - z.float().mean(0)
    s = torch.linalg.svdvals(z)
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(math.exp(-(p * p.log()).sum()))
