"""Planners on a toy linear system z_{t+1} = z_t + B a_t, whose optimum is known."""

import pytest
import torch

from agents.planners import (
    CostConfig,
    PlannerConfig,
    goal_cost,
    make_cost,
    make_planner,
    shift_plan,
)

NAMES = ("cem", "mppi", "gd")
B = torch.tensor([[0.5, 0.1], [-0.1, 0.4]])  # [D, A], invertible
Z0 = torch.tensor([[0.0, 0.0], [1.0, -1.0], [-0.5, 0.5]])  # [E, D]
A_STAR = torch.tensor([[0.6, -0.4], [-0.8, 0.5], [0.3, 0.9]])  # [E, A], inside the bounds
GOAL = Z0 + A_STAR @ B.T  # [E, D], reachable in one step


class LinearSystem:
    """Rollout z0 + cumsum(B a): actions [E, N, H, A] -> states [E, N, H, D]; counts its calls."""

    def __init__(self, z0: torch.Tensor, b: torch.Tensor = B) -> None:
        self.z0, self.b = z0, b
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(actions.shape))
        return self.z0[:, None, None, :] + (actions @ self.b.T).cumsum(dim=2)


def quadratic_cost(goal: torch.Tensor):
    """Sum over steps of the squared distance: unique optimum a_0 = A_STAR, a_t = 0 after."""
    return lambda z: (z - goal[:, None, None]).square().sum(dim=-1).sum(dim=-1)


def plan(name: str, rollout, cost, batch: int, init=None, seed: int = 0, **overrides):
    cfg = PlannerConfig(name=name, **overrides)
    planner = make_planner(cfg, action_dim=2, device="cpu")
    generator = torch.Generator().manual_seed(seed)
    return planner.plan(rollout, cost, batch, init=init, generator=generator)


@pytest.mark.parametrize("name", NAMES)
def test_finds_known_optimum_of_quadratic(name):
    result = plan(name, LinearSystem(Z0), quadratic_cost(GOAL), batch=3)
    optimum = torch.zeros(3, 5, 2)
    optimum[:, 0] = A_STAR
    assert result.actions.shape == (3, 5, 2) and result.cost.shape == (3,)
    assert result.actions.dtype == torch.float32 and result.cost.dtype == torch.float32
    torch.testing.assert_close(result.actions, optimum, atol=0.08, rtol=0)
    assert (result.cost < 1e-3).all()


@pytest.mark.parametrize("name", NAMES)
def test_each_episode_reaches_its_own_goal(name):
    system = LinearSystem(Z0)
    result = plan(name, system, goal_cost(GOAL, "l2", "last"), batch=3)
    final = system(result.actions[:, None])[:, 0, -1]  # [E, D]
    torch.testing.assert_close(final, GOAL, atol=0.02, rtol=0)
    assert (result.cost < 0.02).all()


@pytest.mark.parametrize("name", NAMES)
def test_unreachable_goal_saturates_within_bounds(name):
    b = 0.5 * torch.eye(2)
    goal = Z0 + b @ torch.tensor([8.0, -8.0])  # needs |a| = 1.6 per step over H = 5
    result = plan(name, LinearSystem(Z0, b), goal_cost(goal, "l2", "last"), batch=3)
    assert result.actions.abs().max() <= 1.0
    assert (result.actions[..., 0] > 0.9).all() and (result.actions[..., 1] < -0.9).all()


@pytest.mark.parametrize("name", NAMES)
def test_warm_start_near_optimum_beats_cold_start(name):
    optimum = torch.zeros(3, 5, 2)
    optimum[:, 0] = A_STAR
    init = optimum + 0.05 * torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(1))
    one_step = {"iterations": 1, "gd_steps": 1}
    cost = quadratic_cost(GOAL)
    cold = plan(name, LinearSystem(Z0), cost, batch=3, **one_step)
    warm = plan(name, LinearSystem(Z0), cost, batch=3, init=init, **one_step)
    init_cost = cost(LinearSystem(Z0)(init[:, None]))[:, 0]  # [E]
    assert (warm.cost < cold.cost).all()
    assert (warm.cost <= init_cost + 1e-6).all()


@pytest.mark.parametrize("name", NAMES)
def test_one_batched_rollout_call_per_iteration(name):
    system = LinearSystem(Z0)
    result = plan(
        name, system, quadratic_cost(GOAL), batch=3, samples=16, iterations=4, gd_steps=6, elites=4
    )
    steps = 6 if name == "gd" else 4
    assert system.shapes == [(3, 16, 5, 2)] * steps
    assert result.rollout_calls == steps
    assert result.transitions == 3 * 16 * 5 * steps


@pytest.mark.parametrize("name", NAMES)
def test_bf16_rollout_keeps_planner_maths_fp32(name):
    system = LinearSystem(Z0)
    result = plan(
        name, lambda a: system(a).bfloat16(), goal_cost(GOAL), batch=3, iterations=3, gd_steps=3
    )
    assert result.actions.dtype == torch.float32 and result.cost.dtype == torch.float32


def test_same_seed_same_plan():
    first = plan("cem", LinearSystem(Z0), quadratic_cost(GOAL), batch=3, iterations=3, seed=5)
    second = plan("cem", LinearSystem(Z0), quadratic_cost(GOAL), batch=3, iterations=3, seed=5)
    torch.testing.assert_close(first.actions, second.actions, atol=0, rtol=0)


def test_gd_refuses_inference_mode():
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        plan("gd", LinearSystem(Z0), quadratic_cost(GOAL), batch=3, gd_steps=1)


@pytest.mark.parametrize("metric", ["l2", "l1", "cosine"])
@pytest.mark.parametrize("weighting", ["last", "all"])
def test_goal_cost_is_zero_at_goal(metric, weighting):
    goal = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])  # [E, D]
    at_goal = goal[:, None, None].expand(2, 4, 3, 3)  # [E, N, H, D]
    cost = goal_cost(goal, metric, weighting)
    assert cost(at_goal).shape == (2, 4)
    torch.testing.assert_close(cost(at_goal), torch.zeros(2, 4), atol=1e-6, rtol=0)
    away = at_goal + torch.tensor([0.5, -1.0, 0.25])
    assert (cost(away) > 1e-3).all()


def test_goal_cost_values():
    goal = torch.zeros(1, 2)
    z = torch.tensor([[[[3.0, 4.0], [0.0, 0.0]]]])  # [E=1, N=1, H=2, D=2]
    assert goal_cost(goal, "l2", "all")(z).item() == pytest.approx(2.5)  # mean(5, 0)
    assert goal_cost(goal, "l2", "last")(z).item() == pytest.approx(0.0)
    assert goal_cost(goal, "l1", "all")(z).item() == pytest.approx(1.75)  # mean(3.5, 0)
    opposite = goal_cost(torch.tensor([[1.0, 0.0]]), "cosine", "last")
    assert opposite(torch.tensor([[[[-2.0, 0.0]]]])).item() == pytest.approx(2.0)


def test_shift_plan():
    actions = torch.arange(6.0).reshape(1, 3, 2)  # [[0, 1], [2, 3], [4, 5]]
    assert shift_plan(actions).tolist() == [[[2, 3], [4, 5], [4, 5]]]
    assert shift_plan(actions, fill="zero").tolist() == [[[2, 3], [4, 5], [0, 0]]]
    assert shift_plan(actions, steps=2).tolist() == [[[4, 5], [4, 5], [4, 5]]]


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="cem.*mppi.*gd"):
        PlannerConfig(name="ilqr")
    cfg = PlannerConfig()
    cfg.name = "ilqr"  # bypasses the config check, as a bad override merged late would
    with pytest.raises(ValueError, match="cem.*mppi.*gd"):
        make_planner(cfg, action_dim=2, device="cpu")
    with pytest.raises(ValueError, match="l2"):
        goal_cost(torch.zeros(1, 2), "huber")
    with pytest.raises(ValueError, match="elites"):
        PlannerConfig(samples=10, elites=20)


def test_the_goal_cost_has_one_default_and_takes_a_plugged_metric():
    """CostConfig owns the goal cost: its default weighting is "all" (last-step-only lets a
    receding-horizon agent postpone its arrival), planners no longer carry cost settings, and a
    metric such as a learned distance plugs in as a function of (z, g)."""
    assert CostConfig().weighting == "all" and CostConfig().metric == "l2"
    assert not {"cost", "cost_weighting"} & set(PlannerConfig.__dataclass_fields__)
    goal = torch.tensor([[0.0, 0.0]])
    z = torch.tensor([[[[3.0, 4.0], [0.0, 0.0]]]])  # [E=1, N=1, H=2, D=2]
    assert goal_cost(goal)(z).item() == pytest.approx(2.5)  # the mean over both steps
    steps = make_cost(CostConfig(weighting="last"), goal, distance=lambda z, g: (z - g).sum(-1) + 7)
    assert steps(z).item() == pytest.approx(7.0)
    with pytest.raises(ValueError, match="cost.weighting='first'"):
        CostConfig(weighting="first")


def test_a_learned_cost_may_add_the_euclidean_distance():
    """cost.l2_weight adds w * ||z - g|| to a learned distance, step by step, and refuses a
    cost that has no learned distance to add it to."""
    goal = torch.tensor([[0.0, 0.0]])
    z = torch.tensor([[[[3.0, 4.0], [0.0, 0.0]]]])  # [E=1, N=1, H=2, D=2]
    learned = lambda z, g: torch.full(z.shape[:-1], 7.0)  # noqa: E731
    plain = make_cost(CostConfig(metric="learned"), goal, distance=learned)
    assert plain(z).item() == pytest.approx(7.0)
    both = make_cost(CostConfig(metric="learned", l2_weight=0.5), goal, distance=learned)
    assert both(z).item() == pytest.approx(7.0 + 0.5 * 2.5)  # 0.5 * mean(5, 0)
    with pytest.raises(ValueError, match="cost.metric=learned"):
        CostConfig(l2_weight=0.5)
    with pytest.raises(ValueError, match="l2_weight"):
        CostConfig(metric="learned", l2_weight=-1.0)
