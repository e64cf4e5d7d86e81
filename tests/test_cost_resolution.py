"""benchmarks.cost_resolution: how finely the planner's cost tells poses near the goal apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import cost_resolution
from tests.conftest import run_cli


def test_auc_counts_the_pairs_in_which_the_nearer_pose_costs_less():
    assert cost_resolution.auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert cost_resolution.auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 0.0
    # 1<2 wins, 1<1 ties (half), 3>2 and 3>1 lose: (1 + 0.5) / 4
    assert cost_resolution.auc(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(0.375)


def test_turned_poses_end_exactly_r_off_the_goal_on_their_largest_coordinate():
    from envs import make
    from envs.dmc import hinge_qpos_indices

    env = make("dmc", domain="swimmer", task="swimmer6", image_size=16)
    try:
        env.reset(seed=0)
        goal = env.get_sim_state()
        hinges = hinge_qpos_indices(env.physics.model)
        states = cost_resolution.turned(goal, hinges, 0.3, 5, np.random.default_rng(0))
        assert states.shape == (5, goal.size)
        for state in states:
            gaps = env.goal_gaps(state, goal)
            assert max(gaps.values()) == pytest.approx(0.3)
            assert gaps["rootx"] == gaps["rooty"] == 0.0  # slides stay at the goal
        assert len({tuple(s) for s in states}) == 5  # five directions, not one
    finally:
        env.close()


def test_a_swimmer_model_gets_a_row_per_radius_and_per_joint(tmp_path, cache):
    world = ["env=dmc", "env.domain=swimmer", "env.task=swimmer6", "env.image_size=32"]
    run = tmp_path / "run"
    run_cli(
        "worldmodel.train", "preset=debug", *world, f"run_dir={run}", "progress=false", cache=cache
    )
    out = tmp_path / "res.json"
    cost_resolution.main(
        ["--checkpoint", str(run), "--episodes", "2", "--per-radius", "3", "--out", str(out)]
    )
    row = json.loads(out.read_text())["runs"][0]
    assert row["world"] == "swimmer/swimmer6" and row["hinges"] == 6
    assert set(row["cost_mean"]) == {str(r) for r in cost_resolution.RADII}
    assert all(c > 0 for c in row["cost_mean"].values())  # no turned pose looks like the goal
    assert set(row["cost_single"]) == {"rootz", *(f"joint_{k}" for k in range(5))}
    assert all(0.0 <= a <= 1.0 for a in row["auc"].values())
    assert row["rollout"]["rollout_l2_5"] > 0 and row["rollout"]["copy_last_l2_5"] > 0
    with pytest.raises(SystemExit, match="swimmer/swimmer6, not dm_control cheetah/run"):
        cost_resolution.main(["--checkpoint", str(run), "--domain", "cheetah", "--task", "run"])
