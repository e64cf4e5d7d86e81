"""benchmarks.learned_distance: the learned distance against the wall's true shortest way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.learned_distance import main, spearman
from tests.conftest import run_cli


def test_spearman_reads_order_not_scale():
    a = np.array([0.1, 0.5, 0.2, 3.0])
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


@pytest.fixture(scope="module")
def wall_run(tmp_path_factory, cache):
    """A debug-preset wall model (both tests below rebuild its graph before reading it)."""
    run = tmp_path_factory.mktemp("wall")
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "env=wall",
        f"run_dir={run}",
        "progress=false",
        cache=cache,
    )
    return run


@pytest.mark.slow
def test_the_check_runs_on_a_wall_model_and_refuses_another_world(
    tmp_path, cache, tiny_run, wall_run
):
    run = wall_run
    wall_data = next((cache / "data").glob("wall-32px-*"))
    built = run_cli(
        "worldmodel.distance",
        f"checkpoint={run}",
        f"data.dir={wall_data}",
        "distance.steps=20",
        "progress=false",
        cache=cache,
    )
    assert "distance.pt" in built.stdout
    # another world's trajectories are refused in one line that names both
    refused = run_cli(
        "worldmodel.distance",
        f"checkpoint={tiny_run}",
        f"data.dir={wall_data}",
        "progress=false",
        cache=cache,
        check=False,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "holds wall episodes" in refused.stderr and "reacher model" in refused.stderr
    out = tmp_path / "check.json"
    main(["--checkpoint", str(run), "--episodes", "2", "--grid", "3", "--out", str(out)])
    result = json.loads(out.read_text())
    assert len(result["per_episode"]) == 2 and result["grid"] == 3
    for row in result["per_episode"]:
        assert -1.0 <= row["spearman_all"] <= 1.0 and row["door_error"] >= 0.0
        assert abs(row["preferred_wall_height"]) < 1.0  # a height inside the arena
    graph = result["graph"]
    # the data of a fixed wall crosses only at the door, so no edge may join its two sides
    # anywhere else (a wormhole); transitions are not neighbour edges and are not counted
    assert graph["neighbour_edges"] > 0 and graph["across_the_wall_away_from_the_door"] == 0
    assert 0.0 <= graph["goals_reachable"] <= 1.0
    with pytest.raises(SystemExit, match="needs the wall world"):
        main(["--checkpoint", str(tiny_run), "--episodes", "1"])


@pytest.mark.slow
def test_distance_collects_a_larger_data_set_for_the_graph(cache, wall_run):
    from pathlib import Path

    from worldmodel.graph import LatentGraph

    run = wall_run
    run_cli(
        "worldmodel.distance",
        f"checkpoint={run}",
        "collect_episodes=6",
        "distance.steps=10",
        "progress=false",
        cache=cache,
    )
    source = LatentGraph.load(run / "graph.npz").config["data"]
    assert "-6x" in Path(source["dir"]).name  # the new data set, under the model's world
    assert Path(source["dir"]).name.startswith("wall-")
    both = run_cli(
        "worldmodel.distance",
        f"checkpoint={run}",
        "collect_episodes=6",
        f"data.dir={source['dir']}",
        "progress=false",
        cache=cache,
        check=False,
    )
    assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr
