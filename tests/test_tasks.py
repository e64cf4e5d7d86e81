"""The tasks of docs/protocol.md: seeded, deterministic episode lists built by the documented procedures."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.tasks import PROTOCOL_VERSION, TASKS, Episode, get_task

N = 4


@pytest.fixture(scope="module")
def lists():
    """name -> (task, env, episodes(seed=0), episodes(seed=0) again, episodes(seed=1))."""
    out = {}
    for name, task in TASKS.items():
        env = task.make_env(image_size=16)
        out[name] = (task, env, task.episodes(0, N), task.episodes(0, N), task.episodes(1, N))
    yield out
    for _, env, *_ in out.values():
        env.close()


def test_table_matches_protocol():
    assert PROTOCOL_VERSION == 2
    rows = {n: (t.world, t.budget, t.metric, t.early_end) for n, t in TASKS.items()}
    assert rows == {
        "reacher-pose": ("reacher", 50, "success", True),
        "reacher-far": ("reacher", 200, "success", True),
        "point_mass-goal": ("point_mass", 200, "success", True),
        "wall-door": ("wall", 300, "success", True),
        "reacher-easy-return": ("reacher", 1000, "return", False),
        "dmc-generic": ("dmc", 100, "success", True),
    }
    assert all(t.world in envs.WORLDS for t in TASKS.values())
    assert TASKS["reacher-pose"].env_kwargs == {"draw_target": False, "target_size": "easy"}
    assert TASKS["reacher-easy-return"].env_kwargs["draw_target"] is True


@pytest.mark.parametrize("name", list(TASKS))
def test_episode_lists_are_seeded(lists, name):
    task, env, first, again, other = lists[name]
    assert len(first) == N and all(isinstance(e, Episode) for e in first)
    for a, b in zip(first, again):
        assert np.array_equal(a.start, b.start) and np.array_equal(a.goal, b.goal)
    assert not any(np.array_equal(a.start, b.start) for a, b in zip(first, other))
    for e in first:
        assert e.start.shape == e.goal.shape == (env.state_size,)
        assert e.start.dtype == np.float64
        if task.metric == "success":
            assert not env.is_success(e.start, e.goal)
    prefix = task.episodes(0, 2)
    assert all(np.array_equal(a.goal, b.goal) for a, b in zip(prefix, first))


def test_reacher_pose_goals(lists):
    _, env, episodes, *_ = lists["reacher-pose"]
    for e in episodes:
        assert env.goal_distance(e.start, e.goal) > env.success_threshold
        assert np.all(e.start[2:4] == 0)  # the start is at rest
        assert np.array_equal(e.start[-2:], e.goal[-2:])  # same (hidden) target


def test_reacher_far_goals_at_rest(lists):
    _, env, episodes, *_ = lists["reacher-far"]
    for e in episodes:
        assert np.all(e.start[2:4] == 0) and np.all(e.goal[2:4] == 0)


def test_reacher_easy_return_goal_reaches_target(lists):
    _, env, episodes, *_ = lists["reacher-easy-return"]
    model = env.physics.named.model
    base, len1, len2 = (
        model.body_pos["arm", :2],
        model.body_pos["hand", 0],
        model.body_pos["finger", 0],
    )
    low, high = model.jnt_range["wrist"]
    for e in episodes:
        target = e.start[-2:]
        assert np.linalg.norm(env.fingertip_position(e.goal) - target) < 1e-3
        assert low <= e.goal[1] <= high and np.all(e.goal[2:4] == 0)
        # The other elbow solution (mirrored about the base-target line) is no nearer.
        phi = np.arctan2(*(target - base)[::-1])
        mirror = e.goal.copy()
        mirror[:2] = 2 * phi - e.goal[0], -e.goal[1]
        assert np.linalg.norm(env.fingertip_position(mirror) - target) < 1e-3
        assert env.goal_distance(e.start, e.goal) <= env.goal_distance(e.start, mirror) + 1e-12
    assert len1 > 0 and len2 > 0


def test_point_mass_goal_marker(lists):
    _, env, episodes, *_ = lists["point_mass-goal"]
    for e in episodes:
        assert np.allclose(e.start[-2:], e.goal[:2]) and np.allclose(e.goal[-2:], e.goal[:2])
        assert np.all(e.start[2:4] == 0) and np.all(e.goal[2:4] == 0)


def test_wall_door_rooms(lists):
    _, env, episodes, *_ = lists["wall-door"]
    for e in episodes:
        assert env.room(e.start) != env.room(e.goal)
        assert e.start[-1] == e.goal[-1]  # one door per episode


def test_episode_plays_as_given(lists):
    task, _, episodes, *_ = lists["wall-door"]
    env = task.make_env(image_size=16, action_repeat=2)
    try:
        e = episodes[0]
        obs, info = env.reset(options={"start": e.start, "goal": e.goal})
        assert np.array_equal(info["state"], e.start) and np.array_equal(env.goal_state, e.goal)
        assert info["goal_distance"] == pytest.approx(env.goal_distance(e.start, e.goal))
    finally:
        env.close()


def test_get_task():
    assert get_task("wall-door") is TASKS["wall-door"]
    walker = get_task("dmc-generic", domain="walker", task="walk")
    assert walker.env_kwargs == {"domain": "walker", "task": "walk"}
    assert TASKS["dmc-generic"].env_kwargs == {"domain": "cartpole", "task": "swingup"}
    with pytest.raises(ValueError, match="reacher-pose"):
        get_task("reacher-posed")
    with pytest.raises(TypeError, match="domain"):
        get_task("reacher-pose", domain="walker")
    with pytest.raises(ValueError, match="walk"):
        get_task("dmc-generic", domain="walker", task="fly")


@pytest.mark.parametrize("name", list(TASKS))
def test_each_task_names_the_model_it_needs(name):
    """goal_reaching trains a task's model from task_env_overrides and evaluate looks for it under
    world_key: both must name the same world and looks (reacher-easy-return draws the target)."""
    from worldmodel.config import Config, env_key, task_env_overrides, world_key
    from worldmodel.runtime.cli import load_config

    task = TASKS[name]
    cfg = load_config(task_env_overrides(task.world, task.env_kwargs), schema=Config)
    assert env_key(cfg.env) == world_key(task.world, task.env_kwargs)
    assert cfg.env.name == task.world
    expected = {"reacher-easy-return": "reacher-target", "dmc-generic": "dmc-cartpole-swingup"}
    assert world_key(task.world, task.env_kwargs) == expected.get(name, task.world)


def test_goal_reaching_builds_the_wall_graph_from_more_random_play(tmp_path):
    """The wall-door rows of the README used a graph of 1,000 random episodes; the benchmark
    builds that one, and other worlds' graphs from the model's own data."""
    from benchmarks import goal_reaching

    wall = goal_reaching.graph_command(TASKS["wall-door"], tmp_path / "wall-cpu")
    assert "collect_episodes=1000" in wall and "graph.max_nodes=60000" in wall
    reacher = goal_reaching.graph_command(TASKS["reacher-far"], tmp_path / "reacher-cpu")
    assert not any(a.startswith(("collect_episodes=", "data.dir=")) for a in reacher)


def test_goal_reaching_table_keeps_each_rows_world_and_oracle():
    """Rows of one task on other worlds or episodes do not lend each other floors, and an oracle
    (which plans with its row's planner structure) shows only on its own row."""
    from benchmarks import goal_reaching

    def row(folder, rev, seed, baselines):
        return {
            "task": "point_mass-goal",
            "protocol_version": 2,
            "planner": {"name": "cem", "samples": 300, "iterations": 30, "horizon": 5},
            "metric": "success",
            "episodes": 200,
            "success_rate": 0.5,
            "success_ci95": [0.4, 0.6],
            "mean_final_distance": 0.1,
            "world_revision": rev,
            "seed": seed,
            "baselines": baselines,
            "folder": folder,
        }

    floors = {"random": {"success_rate": 0.02, "episodes": 200}}
    oracle = {"oracle": {"success_rate": 0.79, "episodes": 200}}
    rows = [
        row("a", 3, 0, {**floors, **oracle}),
        row("b", 3, 0, {}),  # same episodes: takes a's floors, not its oracle
        row("c", 3, 1, {}),  # other episodes: nothing
        row("d", 1, 0, {}),  # other world revision: nothing
    ]
    lines = goal_reaching.table(rows, {"date": "now", "commit": "x"}).splitlines()
    cells = {ln.split(" | ")[-1].rstrip(" |"): ln.split(" | ")[9:12] for ln in lines[4:]}
    assert cells == {
        "a": ["2.0%", "-", "79.0%"],
        "b": ["2.0%", "-", "-"],
        "c": ["-", "-", "-"],
        "d": ["-", "-", "-"],
    }


def test_dmc_generic_success_wraps_hinge_angles_only():
    """Protocol 2: a hinge a full turn away is at its goal; slide, ball and free joints are not."""
    from envs.dmc import DMCEnv, hinge_qpos_indices

    cartpole = DMCEnv("cartpole", "swingup", image_size=16)  # qpos: [cart slide, pole hinge]
    assert list(hinge_qpos_indices(cartpole.physics.model)) == [1]
    goal = cartpole.get_sim_state()
    turned = goal.copy()
    turned[1] += 2 * np.pi + 0.05  # one full turn of the pole, 0.05 rad off
    assert cartpole.goal_distance(turned, goal) == pytest.approx(0.05)
    assert cartpole.is_success(turned, goal)
    turned[1] = goal[1] - 2 * np.pi + 0.2
    assert cartpole.goal_distance(turned, goal) == pytest.approx(0.2)
    slid = goal.copy()
    slid[0] += 2 * np.pi  # the cart's slide joint is a length: never wrapped
    assert cartpole.goal_distance(slid, goal) == pytest.approx(2 * np.pi)
    assert not cartpole.is_success(slid, goal)
    cartpole.close()

    quadruped = DMCEnv("quadruped", "walk", image_size=16)  # qpos[:7]: free joint (pos, quat)
    hinges = hinge_qpos_indices(quadruped.physics.model)
    assert 0 not in hinges and list(hinges) == list(range(7, quadruped.physics.model.nq))
    goal = quadruped.get_sim_state()
    moved = goal.copy()
    moved[0] += 2 * np.pi  # the free joint's x position: compared as it is
    moved[7:] += 2 * np.pi  # every hinge a full turn: wrapped to zero
    assert quadruped.goal_distance(moved, goal) == pytest.approx(2 * np.pi)
    moved[0] = goal[0]
    assert quadruped.goal_distance(moved, goal) < 1e-9
    quadruped.close()


def test_dmc_angles_feature_keeps_limited_hinges_as_angles():
    """``angles``: a hinge that can turn over as sine and cosine, a limited one as its angle;
    ``pose`` keeps every hinge as sine and cosine."""
    from envs.dmc import DMCEnv, hinge_qpos_indices

    swimmer = DMCEnv("swimmer", "swimmer6", image_size=16)  # qpos: x, y, heading, 5 joints
    model = swimmer.physics.model
    assert list(hinge_qpos_indices(model)) == list(range(2, 8))
    assert list(hinge_qpos_indices(model, turning_only=True)) == [2]  # joints: within 60 deg
    state = swimmer.get_sim_state()
    state[:8] = [0.1, -0.2, 2 * np.pi + 0.3, 0.5, -0.4, 0.0, 0.2, -1.0]
    f = swimmer.state_features(state)
    assert f["angles"].shape == (1, 9) and f["pose"].shape == (1, 14)
    np.testing.assert_allclose(f["angles"][0, :7], [0.1, -0.2, 0.5, -0.4, 0.0, 0.2, -1.0])
    np.testing.assert_allclose(f["angles"][0, 7:], [np.sin(0.3), np.cos(0.3)], atol=1e-12)
    np.testing.assert_allclose(f["pose"][0, 2:8], np.sin(state[2:8]))
    swimmer.close()

    cheetah = DMCEnv("cheetah", "run", image_size=16)  # back foot: -230..50 degrees, still limited
    assert list(hinge_qpos_indices(cheetah.physics.model, turning_only=True)) == [2]  # the torso
    cheetah.close()


def test_turning_hinges_need_no_limit_or_a_full_turn_of_range():
    """A hinge limited to a range of a full turn or more can still turn over; a free joint is
    no hinge (its 7 qpos entries are kept as they are)."""
    import mujoco as mj

    from envs.dmc import hinge_qpos_indices

    xml = """<mujoco><worldbody>
      <body><freejoint/><geom size="0.1"/>
        <body><joint name="free_turn" type="hinge"/><geom size="0.1"/></body>
        <body><joint name="wide" type="hinge" limited="true" range="-200 200"/><geom size="0.1"/></body>
        <body><joint name="narrow" type="hinge" limited="true" range="-170 170"/><geom size="0.1"/></body>
      </body></worldbody></mujoco>"""
    model = mj.MjModel.from_xml_string(xml)  # qpos: free joint 0-6, then 7, 8, 9
    assert list(hinge_qpos_indices(model)) == [7, 8, 9]
    assert list(hinge_qpos_indices(model, turning_only=True)) == [7, 8]
