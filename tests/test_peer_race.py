"""The race against stable-worldmodel in benchmarks/planner_speed.py: fair counts, one line when
the peer is missing (no timing is asserted: speed is measured in benchmarks/, not in tests)."""

import importlib.util

import pytest

from agents.planners import PlannerConfig
from benchmarks import peer_solvers, planner_speed


def test_a_missing_peer_is_one_line_and_no_race(monkeypatch, capsys):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    result = planner_speed.run_race(None, [1], reps=1)  # type: ignore[arg-type]
    assert isinstance(result, str) and result.startswith("no race against stable-worldmodel")
    assert "pip install" in result
    assert capsys.readouterr().out.strip() == result


@pytest.mark.skipif(
    importlib.util.find_spec("stable_worldmodel") is None,
    reason='the peer is not installed (pip install "worldmodel[peers]")',
)
@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_both_sides_make_the_same_rollout_calls_and_transitions(name):
    solvers, _ = peer_solvers.load()
    model = planner_speed.build_model(None, planner_speed.resolve_device("cpu"))
    cfg = PlannerConfig(name=name, samples=8, iterations=3, horizon=2, elites=2)
    row = planner_speed.race(model, cfg, solvers, reps=1, episodes=2)
    assert row["rollout_calls"] == row["peer_rollout_calls"] == 3
    assert row["transitions"] == row["peer_transitions"] == 2 * 8 * 2 * 3
    assert row["ratio"] > 0
