"""Gradient-descent planning: Adam on action sequences through a differentiable rollout."""

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

_ATANH_LIMIT = 0.999  # keeps atanh of a saturated warm start finite (atanh(0.999) ~ 3.8)


class GDPlanner(ConfiguredPlanner):
    """Adam on ``samples`` parallel restarts per episode, each one sequence ``tanh(u)``.

    Actions are reparametrised as ``tanh(u)``, so they stay in (-1, 1) with no clamp. Restart 0
    starts at the warm-start mean (zeros without one); the others at ``atanh(mean) + init_std *
    noise``. Each of ``gd_steps`` Adam steps costs one rollout call over ``[E, N, H, A]``; the
    returned plan is the lowest-cost sequence evaluated over all steps and restarts.

    ``plan`` runs under ``torch.enable_grad()`` and takes gradients with ``torch.autograd.grad``
    w.r.t. the action parameters only (model parameters' ``.grad`` stay untouched). It must not
    run inside ``torch.inference_mode()``, and the rollout must not close over inference tensors
    (encode under ``torch.no_grad()`` instead).
    """

    needs_grad = True

    def plan(
        self,
        rollout: RolloutFn,
        cost: CostFn,
        batch: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Plan ``batch`` episodes; ``init`` is the warm-start mean ``[E, H, A]``; ``generator``
        (on the planner's device) makes the restarts reproducible."""
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                "the gd planner backpropagates through the rollout: call plan() outside "
                "torch.inference_mode() (use torch.no_grad() for encoding instead)"
            )
        cfg = self.cfg
        shape = (batch, cfg.samples, cfg.horizon, self.action_dim)  # [E, N, H, A]
        mean = initial_mean(init, batch, cfg.horizon, self.action_dim, self.device)  # [E, H, A]
        noise = torch.randn(shape, generator=generator, device=self.device)
        noise[:, 0] = 0.0  # restart 0 is the warm-start mean
        u0 = torch.atanh(mean.clamp(-_ATANH_LIMIT, _ATANH_LIMIT))[:, None] + cfg.init_std * noise
        u = u0.requires_grad_(True)  # [E, N, H, A], pre-tanh
        optimizer = torch.optim.Adam([u], lr=cfg.lr)
        best_cost = torch.full((batch,), float("inf"), device=self.device)
        best_actions = mean.clone()
        with torch.enable_grad():
            for _ in range(cfg.gd_steps):
                actions = torch.tanh(u)
                costs = cost(rollout(actions)).float()  # [E, N]
                best_cost, best_actions = keep_best(
                    best_cost, best_actions, costs.detach(), actions.detach()
                )
                # Sequences are independent, so the gradient of the sum is each one's own.
                (u.grad,) = torch.autograd.grad(costs.sum(), u)
                optimizer.step()
        return PlanResult(
            actions=best_actions,
            cost=best_cost,
            rollout_calls=cfg.gd_steps,
            transitions=batch * cfg.samples * cfg.horizon * cfg.gd_steps,
        )
