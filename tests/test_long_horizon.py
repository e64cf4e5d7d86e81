"""Long-horizon planning: the latent graph, graph subgoals and the learned distance.

On a toy world with a wall and a gap (tests/toy_wall.py) a straight descent of the Euclidean
distance stalls at the wall; each new planner or cost must find the way through the gap.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import toy_wall as T

from agents.planners import PlannerConfig, goal_cost, make_planner
from agents.planners.subgoals import GraphSubgoals
from worldmodel.distance import (
    DistanceConfig,
    DistanceHead,
    distance_by_offset,
    fit_distance,
    load_distance,
    monotone_share,
    save_distance,
)
from worldmodel.graph import GraphConfig, LatentGraph, build_graph
from worldmodel.runtime.errors import InputError

GOAL = torch.tensor([T.GOAL])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small MLPs: one thread is faster than two that fight over shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_graph() -> LatentGraph:
    return build_graph(T.random_trajectories(200, 40, seed=0), GraphConfig(max_nodes=20000))


@pytest.fixture(scope="module")
def toy_distance(toy_graph):
    cfg = DistanceConfig(steps=1500, batch_size=512, hidden=128, sources=256)
    return fit_distance(toy_graph, cfg, show_progress=False)


def _cem_policy(cost_for):
    planner = make_planner(
        PlannerConfig(samples=100, iterations=10, elites=10, horizon=5), 2, "cpu"
    )
    gen = torch.Generator().manual_seed(0)

    def policy(z: torch.Tensor) -> torch.Tensor:
        return planner.plan(T.rollout_fn(z), cost_for(z), 1, generator=gen).actions[:, 0]

    return policy


@torch.no_grad()
def test_straight_descent_stalls_at_the_wall():
    reached, left = T.play(_cem_policy(lambda z: goal_cost(GOAL, "l2", "all")))
    assert not reached and left > 0.5


def test_graph_never_joins_the_two_sides_except_through_the_gap(toy_graph):
    a, b = toy_graph.nodes[toy_graph.src], toy_graph.nodes[toy_graph.dst]
    crossing = np.sign(a[:, 0]) != np.sign(b[:, 0])
    mid_y = (a[crossing, 1] + b[crossing, 1]) / 2
    assert crossing.any(), "the random data does pass through the gap"
    assert np.all(np.abs(mid_y - T.GAP_Y) < T.GAP_HALF + T.STEP)


@torch.no_grad()
def test_graph_subgoals_lead_through_the_gap(toy_graph):
    subgoals = GraphSubgoals(toy_graph, lookahead=4)
    subgoals.reset(GOAL)
    first = subgoals.select(torch.tensor([T.START]))
    assert float(first[0, 1]) > T.START[1] + 0.3, "the first subgoal heads up, toward the gap"
    path = subgoals.last_path_length[0]
    straight = np.linalg.norm(np.subtract(T.GOAL, T.START)) / T.STEP
    assert path > 1.3 * straight, "the graph's way is longer than the straight line"
    reached, _ = T.play(_cem_policy(lambda z: goal_cost(subgoals.select(z), "l2", "all")))
    assert reached


def _with_episode_constant(z: torch.Tensor, gap: float) -> torch.Tensor:
    """``z [E, T, 2]`` plus a third coordinate constant within each episode (like a door's
    place): 10 values ``gap`` apart, ``[E, T, 3]``."""
    c = torch.arange(z.shape[0]).float() % 10 * gap
    return torch.cat([z, c[:, None, None].expand(-1, z.shape[1], 1)], dim=-1)


@torch.no_grad()
def test_graph_joins_frames_across_episode_constants_but_not_across_the_wall():
    from scipy.sparse.csgraph import connected_components

    from worldmodel.graph import controllable_basis

    z = T.random_trajectories(200, 40, seed=0)
    scale = float((z[:, 1:] - z[:, :-1]).norm(dim=-1).median())
    zc = _with_episode_constant(z, 1.5 * scale)  # beyond a plain join, within a context one
    basis = controllable_basis(zc, 0.95)
    assert basis.shape == (3, 2) and basis[2].abs().max() < 1e-3, "x and y move, c does not"
    islands, ways = {}, {}
    for context_radius in (1.0, 3.0):
        graph = build_graph(zc, GraphConfig(max_nodes=20000, context_radius=context_radius))
        islands[context_radius] = connected_components(graph.adjacency(), directed=False)[0]
        # from one episode constant's island to a goal under another: a way only once joined
        probe = GraphSubgoals(graph)
        probe.reset(torch.tensor([[*T.GOAL, float(zc[0, 0, 2])]]))
        ways[context_radius] = probe.way_length(torch.tensor([[*T.START, float(zc[5, 0, 2])]]))[0]
        a, b = graph.nodes[graph.src], graph.nodes[graph.dst]
        crossing = np.sign(a[:, 0]) != np.sign(b[:, 0])
        mid_y = (a[crossing, 1] + b[crossing, 1]) / 2
        assert np.all(np.abs(mid_y - T.GAP_Y) < T.GAP_HALF + T.STEP)
    assert islands[1.0] == 10, "a plain distance keeps each episode constant an island"
    assert islands[3.0] == 1
    assert np.isinf(ways[1.0]) and np.isfinite(ways[3.0])
    subgoals = GraphSubgoals(graph, lookahead=4)
    c = float(zc[3, 0, 2])
    subgoals.reset(torch.tensor([[*T.GOAL, c]]))
    first = subgoals.select(torch.tensor([[*T.START, c]]))
    assert float(first[0, 1]) > T.START[1] + 0.3, "the first subgoal heads up, toward the gap"
    assert (
        subgoals.last_path_length[0] > 1.3 * np.linalg.norm(np.subtract(T.GOAL, T.START)) / T.STEP
    )


@torch.no_grad()
def test_learned_distance_cost_leads_through_the_gap(toy_distance):
    head, _ = toy_distance
    assert float(head(torch.tensor([[0.0, T.GAP_Y]]), GOAL)) < float(
        head(torch.tensor([T.START]), GOAL)
    ), "the gap is nearer the goal than the start is"
    reached, _ = T.play(_cem_policy(lambda z: lambda zz: head(zz, GOAL[:, None, None]).mean(-1)))
    assert reached


@pytest.mark.parametrize("forms", [{"mlp": 1, "metric": 0}, {"mlp": 2, "metric": 1}])
def test_learned_distance_grows_along_the_trajectories_of_a_chain(forms):
    # A 1-D chain: positions 0..1 in steps of 0.05, random walks; z = (position, 0).
    rng = np.random.default_rng(0)
    pos = np.zeros((100, 31))
    pos[:, 0] = rng.uniform(0, 1, 100)
    for t in range(30):
        pos[:, t + 1] = np.clip(pos[:, t] + 0.05 * rng.choice([-1, 1], 100), 0, 1)
    z = torch.from_numpy(np.stack([pos, np.zeros_like(pos)], -1)).float()
    graph = build_graph(z, GraphConfig(neighbours=4, radius=0.5))
    head, info = fit_distance(
        graph,
        DistanceConfig(steps=800, batch_size=256, hidden=64, sources=128, **forms),
        show_progress=False,
    )
    assert head.forms == forms and len(head.members(z[:1, :1], z[:1, 1:2])) == sum(forms.values())
    by_offset = info["by_offset"]
    assert monotone_share(by_offset) == 1.0, by_offset
    assert by_offset["0"] < 1.0 < by_offset["10"]
    # along one straight walk the distance from its start grows with every step
    line = torch.stack([torch.linspace(0, 1, 21), torch.zeros(21)], -1)
    with torch.no_grad():
        d = head(line[:1], line).numpy()
    assert np.all(np.diff(d[:11:2]) > 0), d  # the first 10 steps (the walks are ~30 long)


def test_graph_and_distance_files_round_trip_and_refuse_bad_files(
    tmp_path, toy_graph, toy_distance
):
    head, info = toy_distance
    toy_graph.save(tmp_path / "graph.npz")
    again = LatentGraph.load(tmp_path / "graph.npz")
    assert np.array_equal(again.nodes, toy_graph.nodes) and again.step_scale == pytest.approx(
        toy_graph.step_scale
    )
    save_distance(tmp_path / "distance.pt", head, DistanceConfig(hidden=128), info)
    loaded = load_distance(tmp_path / "distance.pt")
    probe = torch.randn(5, 2)
    assert torch.allclose(loaded(probe, GOAL), head(probe, GOAL))
    (tmp_path / "bad.npz").write_text("not a graph")
    (tmp_path / "bad.pt").write_text("not a head")
    with pytest.raises(InputError, match="bad.npz"):
        LatentGraph.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="bad.pt"):
        load_distance(tmp_path / "bad.pt")


def test_a_metric_head_is_zero_at_the_goal_symmetric_and_several_heads_are_averaged():
    torch.manual_seed(0)
    z, g = torch.randn(4, 3, 8), torch.randn(4, 1, 8)  # g broadcasts over the 3 samples
    head = DistanceHead(8, hidden=32, depth=3, mlp=1, metric=1)
    with torch.no_grad():
        mlp, metric = head.members(z, g)  # the pair heads come first
        assert head.members(g, g)[1].abs().max() < 1e-5  # exactly the goal: zero
        assert (metric > 0).all()
        assert torch.allclose(metric, head.members(g.expand_as(z), z)[1], atol=1e-5)
        assert torch.allclose(head(z, g), (mlp + metric) / 2)
    with pytest.raises(InputError, match="at least one head"):
        DistanceHead(8, mlp=0, metric=0)
    with pytest.raises(InputError, match="distance.mlp"):
        DistanceConfig(mlp=0, metric=0)


def test_a_distance_file_keeps_its_heads_and_an_old_file_loads_as_one_mlp(tmp_path):
    torch.manual_seed(0)
    probe, goal = torch.randn(5, 6), torch.randn(1, 6)
    for forms in ({"mlp": 2, "metric": 1}, {"mlp": 1, "metric": 0}):
        head = DistanceHead(6, hidden=16, depth=2, **forms).eval()
        save_distance(tmp_path / f"{forms['metric']}.pt", head, DistanceConfig(), {})
        loaded = load_distance(tmp_path / f"{forms['metric']}.pt")
        assert loaded.forms == forms and torch.allclose(loaded(probe, goal), head(probe, goal))
    # as written before 2026-12-02: no "forms", one head whose weights are named net.*
    payload = torch.load(tmp_path / "0.pt", weights_only=True)
    del payload["forms"]
    payload["state_dict"] = {
        k.replace("nets.0.", "net.", 1): v for k, v in payload["state_dict"].items()
    }
    torch.save(payload, tmp_path / "old.pt")
    old = load_distance(tmp_path / "old.pt")
    assert old.forms == {"mlp": 1, "metric": 0}
    assert torch.allclose(old(probe, goal), head(probe, goal))
    payload["forms"] = {"mlp": 3}  # a hand-edited file: a clear error, not a KeyError
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(InputError, match="edited.pt"):
        load_distance(tmp_path / "edited.pt")


def test_distance_by_offset_is_zero_at_the_goal_for_a_perfect_head():
    class Exact(torch.nn.Module):
        def forward(self, z, g):
            return (z - g).norm(dim=-1)

    z = torch.arange(10.0)[None, :, None].expand(3, -1, 1)
    out = distance_by_offset(Exact(), z, offsets=(0, 1, 5))
    assert out == {"0": 0.0, "1": 1.0, "5": 5.0}


def test_wall_path_distance_goes_through_the_door():
    import envs

    env = envs.make("wall", image_size=16)
    try:
        wall = env.unwrapped
        door = 0.4
        goal = np.array([0.5, -0.5, 0.0, 0.0, door])
        states = np.array(
            [[-0.5, -0.5, 0, 0, door], [0.2, -0.5, 0, 0, door], [-0.5, 0.4, 0, 0, door]]
        )
        path = wall.path_distances(states, goal)
        straight = wall.goal_distances(states, goal)
        assert path[1] == pytest.approx(straight[1])  # same room: the straight line
        assert path[0] > straight[0] + 0.5  # behind the wall: round by the door
        # a straight line through the door is the way
        level = np.array([0.5, 0.4, 0.0, 0.0, door])
        assert wall.path_distances(states[2:], level)[0] == pytest.approx(1.0)
        # the world's default keeps the goal distance
        assert np.allclose(type(wall).__mro__[1].path_distances(wall, states, goal), straight)
    finally:
        env.close()


@pytest.mark.slow
def test_distance_command_and_both_planners_end_to_end(tiny_run, tmp_path):
    import json
    import shutil

    from conftest import run_cli

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    checkpoint = run / "checkpoint.pt"
    evaluate = ["agents.evaluate", "preset=debug", f"checkpoint={checkpoint}", "eval.episodes=2"]
    # before the graph exists: one clear line naming the file and the command that builds it
    missing = run_cli(
        *evaluate, "planner=cem_graph", f"run_dir={tmp_path}/e0", cache=tmp_path, check=False
    )
    assert missing.returncode == 2 and "graph.npz" in missing.stderr
    assert "python -m worldmodel.distance" in missing.stderr and "Traceback" not in missing.stderr

    out = run_cli(
        "worldmodel.distance",
        f"checkpoint={checkpoint}",
        "distance.steps=30",
        "progress=false",
        cache=tmp_path,
    )
    assert (run / "graph.npz").exists() and (run / "distance.pt").exists(), out.stdout
    for planner, key in (("cem_graph", "subgoals"), ("cem_learned", "metric")):
        run_cli(*evaluate, f"planner={planner}", f"run_dir={tmp_path}/{planner}", cache=tmp_path)
        result = json.loads((tmp_path / planner / "eval.json").read_text())
        assert result["episodes"] == 2 and result["plan_ms_median"] > 0
        oracle = result["baselines"]["oracle"]["settings"]
        assert "shortest-way" in oracle["cost"], "the oracle row has the same planner structure"
        stated = json.dumps(result)
        assert ('"subgoals": "graph"' in stated) if key == "subgoals" else ('"learned"' in stated)
        # what the planner's learned parts were built with is stated, and only those it used
        aids = result["planning_aids"]
        if key == "subgoals":
            assert set(aids) == {"graph"} and aids["graph"]["nodes"] > 0
        else:
            assert set(aids) == {"distance"} and aids["distance"]["config"]["steps"] == 30
