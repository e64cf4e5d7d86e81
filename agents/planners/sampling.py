"""The loop CEM and MPPI share: sample Gaussian action sequences, weight the elites, refit."""

import torch
from torch import Tensor

from agents.planners.base import (
    CostFn,
    PlannerConfig,
    PlanResult,
    RolloutFn,
    initial_mean,
    keep_best,
)


class SamplingPlanner:
    """Gaussian sampling planner; subclasses say how the elites are weighted in the refit.

    Each iteration draws ``samples`` sequences from N(mean, std) clamped to [-1, 1], with the
    current mean as sample 0, makes ONE rollout call for all episodes and samples, keeps the
    ``elites`` lowest-cost samples and sets mean and std to their weighted mean and std (std
    floored at ``min_std``, both blended with the old ones by ``momentum``). The returned plan is
    the lowest-cost sequence evaluated over all iterations, so its cost is known and never worse
    than that of any mean evaluated along the way (the final refit is not evaluated).
    """

    needs_grad = False

    def __init__(self, cfg: PlannerConfig, action_dim: int, device: torch.device) -> None:
        self.cfg = cfg
        self.action_dim = action_dim
        self.device = device

    @property
    def horizon(self) -> int:
        return self.cfg.horizon

    @property
    def warm_start(self) -> bool:
        return self.cfg.warm_start

    def elite_weights(self, elite_cost: Tensor) -> Tensor:
        """Weights ``[E, K]`` (summing to 1 over K) of the elites, given their costs ``[E, K]``."""
        raise NotImplementedError

    def plan(
        self,
        rollout: RolloutFn,
        cost: CostFn,
        batch: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Plan ``batch`` episodes; ``init`` is the warm-start mean ``[E, H, A]``; ``generator``
        (on the planner's device) makes the sampling reproducible."""
        cfg = self.cfg
        shape = (batch, cfg.samples, cfg.horizon, self.action_dim)  # [E, N, H, A]
        mean = initial_mean(init, batch, cfg.horizon, self.action_dim, self.device)  # [E, H, A]
        # Every iteration's draws at once (one kernel); sample 0 of each is the current mean.
        noise = torch.randn((cfg.iterations, *shape), generator=generator, device=self.device)
        noise[:, :, 0] = 0.0  # [I, E, N, H, A]
        return self.search(rollout, cost, mean, noise)

    def search(self, rollout: RolloutFn, cost: CostFn, mean: Tensor, noise: Tensor) -> PlanResult:
        """The iterations from ``mean [E, H, A]`` with their standard-normal draws
        ``noise [I, E, N, H, A]``: no random numbers drawn and no host sync, so it can be
        compiled and captured in a CUDA graph."""
        cfg = self.cfg
        batch = mean.shape[0]
        std = torch.full_like(mean, cfg.init_std)
        best_cost = torch.full((batch,), float("inf"), device=self.device)
        best_actions = mean.clone()
        for i in range(cfg.iterations):
            samples = (mean[:, None] + std[:, None] * noise[i]).clamp_(-1.0, 1.0)  # [E, N, H, A]
            costs = cost(rollout(samples)).float()  # [E, N]
            best_cost, best_actions = keep_best(best_cost, best_actions, costs, samples)

            elite_cost, elite_idx = costs.topk(cfg.elites, dim=1, largest=False)  # [E, K]
            elites = torch.take_along_dim(
                samples, elite_idx[:, :, None, None], dim=1
            )  # [E, K, H, A]
            weights = self.elite_weights(elite_cost)[:, :, None, None]
            new_mean = (weights * elites).sum(dim=1)  # [E, H, A]
            var = (weights * (elites - new_mean[:, None]).square()).sum(dim=1)
            new_std = var.sqrt().clamp_min(cfg.min_std)
            mean = cfg.momentum * mean + (1.0 - cfg.momentum) * new_mean
            std = cfg.momentum * std + (1.0 - cfg.momentum) * new_std
        return PlanResult(
            actions=best_actions,
            cost=best_cost,
            rollout_calls=cfg.iterations,
            transitions=batch * cfg.samples * cfg.horizon * cfg.iterations,
        )
