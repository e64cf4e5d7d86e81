"""The sampling planners' speed options (elite reuse, early stop) on the toy linear system of
test_planners.py: off, the plan is the plain loop's bit for bit; on, the known optimum is kept."""

import pytest
import torch
from test_planners import GOAL, Z0, LinearSystem, plan, quadratic_cost

from agents.planners import PlannerConfig, make_planner
from agents.planners.base import initial_mean, keep_best

OPTIMUM = torch.zeros(3, 5, 2)
OPTIMUM[:, 0] = Z0.new_tensor([[0.6, -0.4], [-0.8, 0.5], [0.3, 0.9]])  # test_planners.A_STAR


def offset_cost(goal: torch.Tensor):
    """The quadratic cost plus 1: same optimum, but a floor above 0 as a real goal cost has (a
    relative tolerance then means what it says)."""
    quadratic = quadratic_cost(goal)
    return lambda z: quadratic(z) + 1.0


def plain_loop(cfg: PlannerConfig, rollout, cost, batch: int, seed: int) -> torch.Tensor:
    """The sampling loop as it was before the options (CEM and MPPI weights), as a reference."""
    generator = torch.Generator().manual_seed(seed)
    mean = initial_mean(None, batch, cfg.horizon, 2, torch.device("cpu"))
    noise = torch.randn((cfg.iterations, batch, cfg.samples, cfg.horizon, 2), generator=generator)
    noise[:, :, 0] = 0.0
    std = torch.full_like(mean, cfg.init_std)
    best_cost = torch.full((batch,), float("inf"))
    best_actions = mean.clone()
    for i in range(cfg.iterations):
        samples = (mean[:, None] + std[:, None] * noise[i]).clamp_(-1.0, 1.0)
        costs = cost(rollout(samples)).float()
        best_cost, best_actions = keep_best(best_cost, best_actions, costs, samples)
        elite_cost, elite_idx = costs.topk(cfg.elites, dim=1, largest=False)
        elites = torch.take_along_dim(samples, elite_idx[:, :, None, None], dim=1)
        if cfg.name == "cem":
            weights = elite_cost.new_full(elite_cost.shape, 1.0 / elite_cost.shape[1])
        else:
            weights = torch.softmax(-elite_cost / cfg.temperature, dim=1)
        weights = weights[:, :, None, None]
        new_mean = (weights * elites).sum(dim=1)
        new_std = (weights * (elites - new_mean[:, None]).square()).sum(dim=1).sqrt()
        new_std = new_std.clamp_min(cfg.min_std)
        mean = cfg.momentum * mean + (1.0 - cfg.momentum) * new_mean
        std = cfg.momentum * std + (1.0 - cfg.momentum) * new_std
    return best_actions


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_options_off_plan_is_the_plain_loops_bit_for_bit(name):
    cost = quadratic_cost(GOAL)
    for seed in (0, 7):
        result = plan(name, LinearSystem(Z0), cost, batch=3, iterations=8, seed=seed)
        reference = plain_loop(
            PlannerConfig(name=name, iterations=8), LinearSystem(Z0), cost, 3, seed
        )
        torch.testing.assert_close(result.actions, reference, atol=0, rtol=0)
        assert result.rollout_calls == 8


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_elite_reuse_finds_the_known_optimum(name):
    system = LinearSystem(Z0)
    result = plan(name, system, quadratic_cost(GOAL), batch=3, elite_reuse=0.5)
    torch.testing.assert_close(result.actions, OPTIMUM, atol=0.08, rtol=0)
    assert (result.cost < 1e-3).all()
    assert system.shapes == [(3, 300, 5, 2)] * 30  # the same rollout calls as without it


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_early_stop_finds_the_known_optimum_in_fewer_iterations(name):
    system = LinearSystem(Z0)
    result = plan(name, system, offset_cost(GOAL), batch=3, early_stop=1e-4)
    torch.testing.assert_close(result.actions, OPTIMUM, atol=0.08, rtol=0)
    assert (result.cost < 1.0 + 1e-3).all()
    assert result.rollout_calls < 30 and len(system.shapes) == result.rollout_calls
    assert result.transitions == 3 * 300 * 5 * result.rollout_calls


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_early_stop_plan_is_the_plain_plan_of_as_many_iterations(name):
    """Same draws, same seed: stopping after k iterations gives the plain k-iteration plan."""
    cost = offset_cost(GOAL)
    mean = torch.zeros(3, 5, 2)
    noise = torch.randn((30, 3, 300, 5, 2), generator=torch.Generator().manual_seed(3))
    noise[:, :, 0] = 0.0
    stopping = make_planner(PlannerConfig(name=name, early_stop=1e-3), 2, "cpu")
    stopped = stopping.search(LinearSystem(Z0), cost, mean, noise)
    k = stopped.rollout_calls
    assert k < 30
    plain = make_planner(PlannerConfig(name=name, iterations=k), 2, "cpu")
    reference = plain.search(LinearSystem(Z0), cost, mean, noise[:k])
    torch.testing.assert_close(stopped.actions, reference.actions, atol=0, rtol=0)
    torch.testing.assert_close(stopped.cost, reference.cost, atol=0, rtol=0)


def test_early_stop_is_off_where_the_iteration_count_must_be_fixed(monkeypatch):
    """Under torch.compile (and CUDA graph capture) the loop keeps all its iterations."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    result = plan("cem", LinearSystem(Z0), offset_cost(GOAL), batch=3, early_stop=1e-3)
    assert result.rollout_calls == 30


def test_option_bounds_are_checked():
    with pytest.raises(ValueError, match="elite_reuse"):
        PlannerConfig(elite_reuse=1.5)
    with pytest.raises(ValueError, match="early_stop"):
        PlannerConfig(early_stop=-0.1)
    with pytest.raises(ValueError, match="early_stop_window"):
        PlannerConfig(early_stop_window=0)
