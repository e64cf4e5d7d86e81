"""What every planner shares: the function types, the result, the config (goal costs: cost.py).

Planners take functions, not models. A planner sees only

- ``rollout``: actions ``[E, N, H, A]`` -> predicted embeddings ``[E, N, H, D]``, and
- ``cost``: embeddings ``[E, N, H, D]`` -> cost ``[E, N]``, lower is better,

for E parallel episodes and N candidate action sequences of H steps each. So a planner can be
tested on a toy linear system with a known optimum, and never imports a model class.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from worldmodel.runtime.errors import InputError
from worldmodel.runtime.schema import check, choices

RolloutFn = Callable[[Tensor], Tensor]
"""Actions ``[E, N, H, A]`` -> predicted embeddings ``[E, N, H, D]``."""

CostFn = Callable[[Tensor], Tensor]
"""Embeddings ``[E, N, H, D]`` -> cost ``[E, N]`` (lower is better)."""

PLANNERS = ("cem", "mppi", "gd")
SHIFT_FILLS = ("last", "zero")
SUBGOALS = ("none", "graph")


@dataclass
class PlannerConfig:
    """Settings of a latent planner (the reference settings of docs/protocol.md are the defaults)."""

    name: str = field(default="cem", metadata=choices(*PLANNERS))
    """Which planner: "cem", "mppi" or "gd"."""
    samples: int = 300
    """Action sequences per episode and iteration (for gd: parallel random restarts)."""
    iterations: int = 30
    """Sampling iterations of cem and mppi, each one rollout call (gd uses gd_steps instead)."""
    horizon: int = 5
    """Decisions planned ahead (H)."""
    elites: int = 30
    """Lowest-cost samples that cem refits to and mppi weights (elites = samples: plain MPPI)."""
    init_std: float = 1.0
    """Initial standard deviation of the sampling Gaussian (for gd: of the restarts, in tanh space)."""
    min_std: float = 0.05
    """Floor on the sampling standard deviation of cem and mppi."""
    temperature: float = 0.5
    """MPPI softmax temperature, in cost units: weights are softmax(-cost / temperature)."""
    momentum: float = 0.0
    """Share of the old mean and std kept at each cem/mppi update (0: replace them)."""
    elite_reuse: float = 0.0
    """cem/mppi: share of each iteration's elites (lowest cost first) that replace the last
    samples of the next iteration (iCEM's elite reuse; 0: off). Same rollout calls and
    transitions; works inside a CUDA graph."""
    early_stop: float = 0.0
    """cem/mppi: stop iterating once no episode's best cost fell by more than this share of it
    over the last ``early_stop_window`` iterations (0: off). Eager planning only: a no-op while a
    CUDA graph is captured or torch.compile traces, which need a fixed iteration count."""
    early_stop_window: int = 3
    """Iterations over which ``early_stop`` measures the improvement (also the fewest run)."""
    lr: float = 0.1
    """Adam learning rate of gd, on the pre-tanh action parameters."""
    gd_steps: int = 50
    """Adam steps of gd, each one rollout call."""
    warm_start: bool = True
    """Start each plan from the previous plan shifted by the steps executed since."""
    subgoals: str = field(default="none", metadata=choices(*SUBGOALS))
    """High level: none (plan toward the goal) | graph (toward subgoals on the shortest path of
    the latent graph over the training frames; build it with `python -m worldmodel.distance`)."""
    lookahead: float = 5.0
    """subgoals=graph: decisions along the graph's path from the current state to the subgoal."""

    def __post_init__(self) -> None:
        check(self, "planner", above={"lookahead": 0})
        check(
            self,
            "planner",
            at_least=dict.fromkeys(
                ("samples", "iterations", "horizon", "elites", "gd_steps", "early_stop_window"), 1
            ),
        )
        check(self, "planner", at_least={"elite_reuse": 0.0, "early_stop": 0.0})
        if self.elite_reuse > 1.0:
            raise InputError(f"planner.elite_reuse must be in [0, 1], got {self.elite_reuse}")
        if self.name in ("cem", "mppi") and self.elites > self.samples:
            raise InputError(
                f"planner.elites={self.elites} exceeds planner.samples={self.samples}; "
                "lower elites or raise samples"
            )
        if not 0.0 <= self.momentum < 1.0:
            raise InputError(f"planner.momentum must be in [0, 1), got {self.momentum}")
        if self.temperature <= 0 or self.init_std <= 0 or self.min_std < 0 or self.lr <= 0:
            raise InputError(
                "planner.temperature, init_std and lr must be positive and min_std non-negative, "
                f"got {self.temperature}, {self.init_std}, {self.lr}, {self.min_std}"
            )


class ConfiguredPlanner:
    """What every planner here shares: its config, action size and device, and the horizon and
    warm start the agent asks for through :class:`Planner`."""

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


@dataclass
class PlanResult:
    """One plan per episode, with what it cost to find."""

    actions: Tensor
    """Best action sequence found, ``[E, H, A]`` in [-1, 1], fp32."""
    cost: Tensor
    """Its cost under the cost function, ``[E]``, fp32."""
    rollout_calls: int
    """Calls made to the rollout function."""
    transitions: int
    """Latent transitions predicted: E * N * H per rollout call."""


class Planner(Protocol):
    """What the agent needs from a planner."""

    needs_grad: bool
    """True if ``plan`` backpropagates through the rollout (it must run outside inference mode)."""

    @property
    def horizon(self) -> int:
        """Decisions each plan holds (H)."""
        ...

    @property
    def warm_start(self) -> bool:
        """Whether a plan should start from the previous one, shifted."""
        ...

    def plan(
        self,
        rollout: RolloutFn,
        cost: CostFn,
        batch: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult: ...


def shift_plan(actions: Tensor, steps: int = 1, fill: str = "last") -> Tensor:
    """Warm start: drop the first ``steps`` actions of ``[E, H, A]`` plans and refill the end.

    ``fill="last"`` repeats the plan's last action (keeps a motion going), ``"zero"`` appends
    zeros (TD-MPC2). Returns a new ``[E, H, A]`` tensor.
    """
    if fill not in SHIFT_FILLS:
        raise InputError(f"unknown shift fill {fill!r}; choose one of {SHIFT_FILLS}")
    horizon = actions.shape[1]
    steps = min(steps, horizon)
    tail = actions[:, -1:] if fill == "last" else torch.zeros_like(actions[:, -1:])
    return torch.cat([actions[:, steps:], tail.expand(-1, steps, -1)], dim=1)


def initial_mean(
    init: Tensor | None, batch: int, horizon: int, action_dim: int, device: torch.device
) -> Tensor:
    """The planners' starting mean ``[E, H, A]``: ``init`` (checked, fp32, clamped) or zeros."""
    if init is None:
        return torch.zeros(batch, horizon, action_dim, device=device)
    if tuple(init.shape) != (batch, horizon, action_dim):
        raise InputError(
            f"init must be [E, H, A] = {(batch, horizon, action_dim)}, got {tuple(init.shape)}"
        )
    return init.detach().to(device=device, dtype=torch.float32).clamp(-1.0, 1.0)


def keep_best(
    best_cost: Tensor, best_actions: Tensor, cost: Tensor, samples: Tensor
) -> tuple[Tensor, Tensor]:
    """Update the best sequence seen per episode with this iteration's ``cost [E, N]`` and
    ``samples [E, N, H, A]``, without a host sync."""
    it_cost, it_idx = cost.min(dim=1)  # [E]
    it_best = samples[torch.arange(samples.shape[0], device=samples.device), it_idx]  # [E, H, A]
    better = it_cost < best_cost
    return (
        torch.where(better, it_cost, best_cost),
        torch.where(better[:, None, None], it_best, best_actions),
    )
