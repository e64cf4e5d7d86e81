"""The loop CEM and MPPI share: sample Gaussian action sequences, weight the elites, refit."""

import torch
from torch import Tensor

from agents.planners.base import (
    ConfiguredPlanner,
    CostFn,
    PlanResult,
    RolloutFn,
    initial_mean,
    keep_best,
)


class SamplingPlanner(ConfiguredPlanner):
    """Gaussian sampling planner; subclasses say how the elites are weighted in the refit.

    Each iteration draws ``samples`` sequences from N(mean, std) clamped to [-1, 1], with the
    current mean as sample 0, makes ONE rollout call for all episodes and samples, keeps the
    ``elites`` lowest-cost samples and sets mean and std to their weighted mean and std (std
    floored at ``min_std``, both blended with the old ones by ``momentum``). The returned plan is
    the lowest-cost sequence evaluated over all iterations, so its cost is known and never worse
    than that of any mean evaluated along the way (the final refit is not evaluated).

    Two options change the search, both off by default (then the plan is bit-identical to the
    plain loop's for the same seed): ``elite_reuse`` puts a share of the last iteration's elites
    in place of the last samples of the next (the same number of rollouts), and ``early_stop``
    ends the iterations once the best costs stopped improving (eager planning only; the random
    draws of the skipped iterations are made anyway, so the generator advances the same).
    """

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
        # Elites carried into the next iteration (never sample 0, the mean).
        reuse = min(round(cfg.elite_reuse * cfg.elites), cfg.samples - 1)
        carried: Tensor | None = None  # [E, reuse, H, A]
        history: list[Tensor] = []  # best cost [E] after each iteration, for early stop
        early_stop = cfg.early_stop > 0 and not _fixed_iterations(mean.device)
        iterations = cfg.iterations
        for i in range(cfg.iterations):
            samples = (mean[:, None] + std[:, None] * noise[i]).clamp_(-1.0, 1.0)  # [E, N, H, A]
            if carried is not None:
                samples[:, -reuse:] = carried
            costs = cost(rollout(samples)).float()  # [E, N]
            best_cost, best_actions = keep_best(best_cost, best_actions, costs, samples)

            elite_cost, elite_idx = costs.topk(cfg.elites, dim=1, largest=False)  # [E, K]
            elites = torch.take_along_dim(
                samples, elite_idx[:, :, None, None], dim=1
            )  # [E, K, H, A]
            if reuse:
                carried = elites[:, :reuse]  # topk sorts: the lowest costs first
            weights = self.elite_weights(elite_cost)[:, :, None, None]
            new_mean = (weights * elites).sum(dim=1)  # [E, H, A]
            var = (weights * (elites - new_mean[:, None]).square()).sum(dim=1)
            new_std = var.sqrt().clamp_min(cfg.min_std)
            mean = cfg.momentum * mean + (1.0 - cfg.momentum) * new_mean
            std = cfg.momentum * std + (1.0 - cfg.momentum) * new_std
            if early_stop:
                history.append(best_cost)
                if len(history) > cfg.early_stop_window:
                    before = history[-1 - cfg.early_stop_window]  # [E]
                    gain = before - best_cost  # >= 0: the best cost never rises
                    if bool((gain <= cfg.early_stop * before.abs()).all()):  # host sync
                        iterations = i + 1
                        break
        return PlanResult(
            actions=best_actions,
            cost=best_cost,
            rollout_calls=iterations,
            transitions=batch * cfg.samples * cfg.horizon * iterations,
        )


def _fixed_iterations(device: torch.device) -> bool:
    """True while a CUDA graph is captured on ``device`` or torch.compile traces: both need a
    fixed iteration count and no host sync, so early stop is off there."""
    if torch.compiler.is_compiling():
        return True
    return device.type == "cuda" and torch.cuda.is_current_stream_capturing()
