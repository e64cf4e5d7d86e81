"""The goal cost: one owner, one default. How far predicted embeddings are from the goal.

A cost is a function ``CostFn``: predicted embeddings ``[E, N, H, D]`` -> cost ``[E, N]``, lower
is better, built for one goal embedding per episode by :func:`make_cost` from a
:class:`CostConfig` (``cost.metric=l2 cost.weighting=all`` on the command line). Another metric
(e.g. a learned distance) plugs in as a :data:`StepDistance`: add it to :data:`METRICS`, or pass
it to :func:`make_cost` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from agents.planners.base import CostFn
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.schema import check, choices

StepDistance = Callable[[Tensor, Tensor], Tensor]
"""Embeddings ``z [E, N, H, D]`` and goals ``g [E, 1, 1, D]`` -> distance per step ``[E, N, H]``
(fp32; zero at the goal)."""


def _l2(z: Tensor, g: Tensor) -> Tensor:
    return torch.linalg.vector_norm(z - g, dim=-1)


def _l1(z: Tensor, g: Tensor) -> Tensor:
    return (z - g).abs().mean(dim=-1)


def _cosine(z: Tensor, g: Tensor) -> Tensor:
    return 1.0 - torch.nn.functional.cosine_similarity(z, g, dim=-1)


METRICS: dict[str, StepDistance] = {"l2": _l2, "l1": _l1, "cosine": _cosine}
"""Built-in metrics: Euclidean distance, mean absolute difference, 1 - cosine similarity."""
WEIGHTINGS = ("all", "last")
LEARNED = "learned"
"""The metric of a learned distance: it needs the model's distance head, given as ``distance``."""


@dataclass
class CostConfig:
    """The goal cost of planning (its defaults are the ones docs/protocol.md reports)."""

    metric: str = field(default="l2", metadata=choices(*METRICS, LEARNED))
    """Distance of a predicted embedding to the goal: l2 | l1 | cosine | learned (the learned
    distance in decisions next to the checkpoint; build it with `python -m worldmodel.distance`)."""
    weighting: str = field(default="all", metadata=choices(*WEIGHTINGS))
    """Score the mean over all predicted steps, or only the last one (DINO-WM). With replanning
    every step, last lets the agent keep postponing its arrival (reacher-pose: 4% vs 96%)."""
    l2_weight: float = 0.0
    """With ``metric=learned``: add this times the Euclidean distance to the goal embedding, a
    cost that is exact at the goal where the learned distance (in decisions) is coarse; 0 = off.
    Measured on point_mass-goal (50 episodes, 10 of them the default's reachable misses): no gain,
    40 reached at 0, 39 at 0.5, 36 at 2 (docs/results-log.md, "SIGReg at 0.003")."""

    def __post_init__(self) -> None:
        check(self, "cost", at_least={"l2_weight": 0})
        if self.l2_weight > 0 and self.metric != LEARNED:
            raise InputError(
                f"cost.l2_weight={self.l2_weight:g} adds the Euclidean distance to a learned "
                f"one, but cost.metric={self.metric}; set cost.metric=learned or cost.l2_weight=0"
            )


def make_cost(cfg: CostConfig, z_goal: Tensor, distance: StepDistance | None = None) -> CostFn:
    """The cost of predicted embeddings ``[E, N, H, D]`` against ``z_goal [E, D]``, in fp32
    whatever the rollout's dtype. ``distance`` replaces the metric ``cfg.metric`` names."""
    if z_goal.dim() != 2:
        raise InputError(f"z_goal must be [E, D], got shape {tuple(z_goal.shape)}")
    if distance is None and cfg.metric == LEARNED:
        raise InputError(
            "cost.metric=learned needs the learned distance (distance=...); build it with "
            "`python -m worldmodel.distance checkpoint=...`"
        )
    per_step = distance or METRICS[cfg.metric]
    if distance is not None and cfg.l2_weight > 0:
        per_step = _plus_l2(distance, cfg.l2_weight)
    last = cfg.weighting == "last"
    goal = z_goal.float()[:, None, None, :]  # [E, 1, 1, D]

    def cost(z: Tensor) -> Tensor:  # [E, N, H, D] -> [E, N]
        if last:
            z = z[:, :, -1:]  # [E, N, 1, D]
        return per_step(z.float(), goal).mean(dim=-1)

    return cost


def _plus_l2(distance: StepDistance, weight: float) -> StepDistance:
    """``distance`` plus ``weight`` times the Euclidean distance (cost.l2_weight)."""

    def per_step(z: Tensor, g: Tensor) -> Tensor:  # [E, N, H, D], [E, 1, 1, D] -> [E, N, H]
        return distance(z, g) + weight * _l2(z, g)

    return per_step


def goal_cost(z_goal: Tensor, metric: str = "l2", weighting: str = "all") -> CostFn:
    """:func:`make_cost` from a metric and a weighting named directly."""
    return make_cost(CostConfig(metric=metric, weighting=weighting), z_goal)
