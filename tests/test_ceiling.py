"""benchmarks.ceiling (what any planner can reach) and benchmarks.goal_landscape (what the
latent goal cost ranks), on point_mass."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import envs
from benchmarks import ceiling, goal_landscape
from tests.conftest import run_cli


def test_ceiling_counts_reachable_episodes_and_refuses_worlds_without_a_bound(
    tmp_path, monkeypatch, capsys
):
    row = ceiling.ceiling("point_mass-goal", seed=0, episodes=20)
    assert 0 < row["reachable"] < 20 and row["ceiling"] == row["reachable"] / 20
    lo, hi = row["ceiling_ci95"]
    assert lo < row["ceiling"] < hi
    out = tmp_path / "c.json"
    argv = ["ceiling", "--seeds", "0", "--episodes", "20", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    ceiling.main()
    saved = json.loads(out.read_text())
    assert saved["seeds"][0]["reachable"] == row["reachable"]  # the same episodes, seeded
    assert 0.3 < saved["free_displacement"] < 0.45
    with pytest.raises(SystemExit, match="has no reach bound"):
        ceiling.ceiling("reacher-pose", seed=0, episodes=2)


@pytest.mark.slow
def test_goal_landscape_runs_on_a_point_mass_model(tmp_path, cache, tiny_run, monkeypatch):
    run = tmp_path / "pm"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "env=point_mass",
        f"run_dir={run}",
        "progress=false",
        cache=cache,
    )
    out = tmp_path / "landscape.json"
    argv = ["goal_landscape", "--checkpoint", str(run), "--episodes", "2", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    old = {"checkpoint": str(run), "task": "point_mass-goal", "hidden_goal": 0.0}  # revision 2's
    out.write_text(json.dumps({"runs": [old]}))
    goal_landscape.main()
    rows = json.loads(out.read_text())["runs"]
    assert rows[0] == old  # a row of frames of another revision is kept beside the new one
    row = rows[1]
    assert row["world_revision"] == envs.world_revision("point_mass") >= 3
    for key in ("hidden_goal", "hidden_goal_visible", "visible_goal"):
        assert np.isfinite(row[key]) and -1 <= row[key] <= 1
    with pytest.raises(SystemExit, match="only point_mass"):
        goal_landscape.landscape(str(tiny_run), "reacher-pose", 1, 0)
