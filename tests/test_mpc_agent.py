"""The latent MPC agent on a toy world whose model is exact: a dot on a tiny image."""

import numpy as np
import pytest
import torch

from agents.evaluation.baselines import RandomPolicy, ZeroPolicy
from agents.mpc import LatentMPCAgent
from agents.planners import CostConfig, PlannerConfig, make_planner, shift_plan

SIZE = 12  # image side in pixels; the dot lives on the pixel grid [0, SIZE - 1]^2
SPEED = 1.5  # pixels moved per unit action
SMALL = {
    "cem": {"samples": 100, "iterations": 10, "elites": 10},
    "mppi": {"samples": 100, "iterations": 10, "elites": 10},
    "gd": {"samples": 8, "gd_steps": 30},
}


class DotWorld:
    """E points in the arena; the frame shows each as one lit pixel at its rounded position."""

    def __init__(self, starts: np.ndarray) -> None:
        self.pos = np.asarray(starts, dtype=np.float64)  # [E, 2] as (x, y) pixels

    def step(self, actions: np.ndarray) -> None:
        self.pos = np.clip(self.pos + SPEED * actions, 0, SIZE - 1)

    def render(self) -> np.ndarray:
        return render(self.pos)


def render(pos: np.ndarray) -> np.ndarray:
    frames = np.zeros((len(pos), SIZE, SIZE, 3), dtype=np.uint8)  # [E, H, W, 3]
    col, row = np.round(pos).astype(int).T
    frames[np.arange(len(pos)), row, col, 0] = 255
    return frames


class DotModel(torch.nn.Module):
    """Exact world model: encode is a fixed linear map of the image (the dot's coordinates mixed
    by ``mix``); rollout adds ``mix @ (SPEED * a)`` per step. Records what it is called with."""

    def __init__(self, history: int = 2) -> None:
        super().__init__()
        self.embed_dim, self.action_dim, self.history, self.image_size = 4, 2, history, SIZE
        self.device = torch.device("cpu")
        generator = torch.Generator().manual_seed(0)
        self.mix = torch.nn.Parameter(torch.randn(4, 2, generator=generator))  # [D, 2]
        grid = torch.arange(SIZE, dtype=torch.float32)
        self.register_buffer("coords", torch.stack(torch.meshgrid(grid, grid, indexing="xy")))
        self.encoded: list[int] = []  # batch size of each encode call
        self.histories: list[torch.Tensor] = []  # history of each rollout call

    def encode(self, frames) -> torch.Tensor:
        image = torch.as_tensor(np.asarray(frames))[..., 0].float() / 255  # [B, H, W]
        self.encoded.append(image.shape[0])
        xy = torch.einsum("bhw,chw->bc", image, self.coords)  # [B, 2], linear in the image
        return xy @ self.mix.T  # [B, D]

    def rollout(self, history: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        assert history.shape[1:] == (self.history, self.embed_dim)
        self.histories.append(history.detach().clone())
        steps = (SPEED * actions) @ self.mix.T  # [B, H, D]
        return history[:, -1:] + steps.cumsum(dim=1)


def make_agent(name="cem", model=None, **kwargs) -> LatentMPCAgent:
    """An agent with a small planner; its cost is the default, the mean over all predicted
    steps, since a last-step cost lets a receding-horizon agent keep postponing its arrival."""
    model = model or DotModel()
    planner = make_planner(PlannerConfig(name=name, **SMALL[name]), model.action_dim, "cpu")
    return LatentMPCAgent(model, planner, **kwargs)


def run(agent, world: DotWorld, goals: np.ndarray, steps: int) -> None:
    agent.reset_batch(render(goals))
    for _ in range(steps):
        actions = agent.act_batch(world.render())
        assert actions.shape == (len(goals), 2) and actions.dtype == np.float32
        assert np.abs(actions).max() <= 1.0
        world.step(actions)


@pytest.mark.parametrize("name", ["cem", "mppi", "gd"])
def test_drives_point_to_goal(name):
    agent = make_agent(name)
    world, goal = DotWorld([[2.0, 2.0]]), np.array([8.0, 9.0])
    agent.reset(render(goal[None])[0])
    for _ in range(8):  # 7 pixels at 1.5 per step: 5 steps at least
        world.step(agent.act(world.render()[0])[None])
    assert np.abs(world.pos[0] - goal).max() < 1.0  # within a pixel: the frame cannot show finer


def test_gd_agent_leaves_model_gradients_alone():
    model = DotModel()
    run(make_agent("gd", model), DotWorld([[2.0, 2.0]]), np.array([[6.0, 4.0]]), steps=2)
    assert model.mix.grad is None


def test_history_is_padded_then_slides():
    model = DotModel(history=3)
    agent = make_agent("cem", model)
    world = DotWorld([[2.0, 2.0]])
    agent.reset_batch(render(np.array([[8.0, 8.0]])))
    z0 = model.encode(world.render()).detach()[0]
    agent.act_batch(world.render())
    torch.testing.assert_close(model.histories[-1][0], z0.expand(3, -1))
    world.pos = np.array([[5.0, 3.0]])
    z1 = model.encode(world.render()).detach()[0]
    agent.act_batch(world.render())
    torch.testing.assert_close(model.histories[-1][0], torch.stack([z0, z0, z1]))


class ActionHistoryDotModel(DotModel):
    """DotModel that says it reads the actions between its history's frames and records them."""

    action_history = True

    def __init__(self, history: int = 3) -> None:
        super().__init__(history)
        self.pasts: list[torch.Tensor] = []  # past actions of each rollout call

    def rollout(self, history, actions, past_actions=None):  # type: ignore[override]
        assert past_actions is not None
        assert past_actions.shape == (history.shape[0], self.history - 1, self.action_dim)
        self.pasts.append(past_actions.detach().clone())
        return super().rollout(history, actions)


@pytest.mark.parametrize("name", ["cem", "gd"])
def test_action_history_model_gets_the_actions_it_executed(name):
    """Zeros before the first action (the history is padded alike), then the executed actions,
    oldest first, expanded over the samples like the history."""
    model = ActionHistoryDotModel(history=3)
    agent = make_agent(name, model)
    world = DotWorld([[2.0, 2.0], [9.0, 4.0]])
    agent.reset_batch(render(np.array([[8.0, 8.0], [3.0, 9.0]])))
    taken = []
    for step in range(3):
        model.pasts.clear()
        actions = agent.act_batch(world.render())  # [E, A]
        samples = model.pasts[0].shape[0] // 2
        first = model.pasts[0][::samples]  # [E, T-1, A]: sample 0 of each episode
        want = np.zeros((2, 2, 2), np.float32)
        for i, a in enumerate(taken[-2:]):
            want[:, 2 - len(taken[-2:]) + i] = a
        np.testing.assert_allclose(first.numpy(), want, err_msg=f"step {step}")
        taken.append(actions)
        world.step(actions)


class SpyPlanner:
    """Delegates to a real planner and records each warm-start ``init`` it is given."""

    def __init__(self, planner) -> None:
        self.inner, self.needs_grad = planner, planner.needs_grad
        self.horizon, self.warm_start = planner.horizon, planner.warm_start
        self.inits: list[torch.Tensor | None] = []

    def plan(self, rollout, cost, batch, init=None, generator=None):
        self.inits.append(init)
        return self.inner.plan(rollout, cost, batch, init=init, generator=generator)


def test_replan_every_executes_the_stored_plan_then_warm_starts():
    model = DotModel()
    spy = SpyPlanner(make_planner(PlannerConfig(**SMALL["cem"]), model.action_dim, "cpu"))
    agent = LatentMPCAgent(model, spy, replan_every=3)
    world = DotWorld([[1.0, 1.0]])
    agent.reset_batch(render(np.array([[10.0, 9.0]])))
    calls, actions = [], []
    for step in range(4):
        if step == 3:
            first_plan = agent.current_plan.clone()
        actions.append(agent.act_batch(world.render()))
        calls.append(agent.last_rollout_calls)
        if step == 0:
            plan = agent.current_plan.clone()
        world.step(actions[-1])
    assert calls == [10, 0, 0, 10]
    for step in range(3):
        np.testing.assert_array_equal(actions[step], plan[:, step].numpy())
    assert spy.inits[0] is None
    torch.testing.assert_close(spy.inits[1], shift_plan(first_plan, steps=3))


def test_batched_episodes_each_reach_their_goal():
    model = DotModel()
    agent = make_agent("cem", model)
    starts = np.array([[2.0, 2.0], [10.0, 1.0], [5.0, 10.0]])
    goals = np.array([[8.0, 9.0], [3.0, 4.0], [9.0, 3.0]])
    world = DotWorld(starts)
    run(agent, world, goals, steps=8)
    assert np.abs(world.pos - goals).max() < 1.0  # within a pixel: the frame cannot show finer
    assert model.encoded == [3] * 9  # goals once, then only the new frames
    assert model.histories[0].shape == (3 * 100, 2, 4)  # one call for all episodes and samples


def test_timing_fields():
    agent = make_agent("cem")
    run(agent, DotWorld([[2.0, 2.0], [4.0, 4.0]]), np.array([[6.0, 6.0], [1.0, 1.0]]), steps=1)
    assert agent.last_plan_ms > 0
    assert agent.last_rollout_calls == 10
    assert agent.last_transitions == 2 * 100 * 5 * 10
    assert agent.last_plan_cost.shape == (2,)


def test_bf16_autocast_acts_in_fp32():
    agent = make_agent("cem", autocast_dtype=torch.bfloat16)
    run(agent, DotWorld([[2.0, 2.0]]), np.array([[6.0, 7.0]]), steps=2)
    assert agent.current_plan.dtype == torch.float32


def test_misuse_errors():
    with pytest.raises(ValueError, match="horizon"):
        make_agent("cem", replan_every=6)
    with pytest.raises(ValueError, match="cost.metric='huber'.*l2"):
        make_agent("cem", cost=CostConfig(metric="huber"))
    with pytest.raises(RuntimeError, match="reset_batch"):
        make_agent("cem").act_batch(render(np.zeros((1, 2))))


def test_baselines():
    frames = render(np.zeros((4, 2)))
    policy = RandomPolicy(action_dim=2, seed=3)
    policy.reset_batch(frames)
    actions = policy.act_batch(frames)
    assert actions.shape == (4, 2) and actions.dtype == np.float32
    assert np.abs(actions).max() <= 1.0 and np.abs(actions).min() > 0
    np.testing.assert_array_equal(RandomPolicy(2, seed=3).act_batch(frames), actions)
    zero = ZeroPolicy(action_dim=2)
    zero.reset(frames[0])
    np.testing.assert_array_equal(zero.act(frames[0]), np.zeros(2, dtype=np.float32))


def test_cuda_graphs_only_on_cuda():
    from agents.cuda_graph import CapturedCall, GraphUnsupported

    assert make_agent("cem", cuda_graph=True).cuda_graph is False  # a CPU model plans eagerly
    with pytest.raises(GraphUnsupported, match="CUDA tensors"):
        CapturedCall(lambda x: x + 1, (torch.zeros(2),))
