"""benchmarks.planner_levers: success and time per planner lever, end to end on the debug model."""

import json

from tests.conftest import run_cli


def test_planner_levers_end_to_end(tiny_run, cache, tmp_path):
    out = tmp_path / "levers.json"
    args = [
        f"--checkpoint={tiny_run}",
        "--levers",
        "reference",
        "early-stop",
        "--episodes=2",
        "--timing-episodes=1",
        "--threads=1",
        f"--runs={tmp_path / 'runs'}",
        f"--out={out}",
    ]
    run_cli("benchmarks.planner_levers", *args, cache=cache, timeout=600)
    rows = {r["lever"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"reference", "early-stop"}
    assert rows["early-stop"]["planner"]["early_stop"] == 0.01
    assert rows["reference"]["planner"]["early_stop"] == 0.0
    for r in rows.values():
        assert r["episodes"] == 2 and r["smoke"] and r["timing_episodes"] == 1
        assert 0.0 <= r["success_rate"] <= 1.0 and r["plan_ms_median"] > 0
    assert "| early-stop |" in out.with_suffix(".md").read_text()
    # A second call reuses the finished runs and rebuilds the same rows.
    run_cli("benchmarks.planner_levers", *args, cache=cache, timeout=600)
    again = {r["lever"]: r for r in json.loads(out.read_text())["rows"]}
    assert again["reference"]["success_rate"] == rows["reference"]["success_rate"]


def test_planner_levers_refuses_an_unknown_lever(cache, tmp_path):
    proc = run_cli(
        "benchmarks.planner_levers",
        "--levers",
        "warp",
        f"--runs={tmp_path}",
        cache=cache,
        check=False,
    )
    assert proc.returncode == 2 and "unknown lever" in proc.stderr and "early-stop" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cem_fast_preset_sets_the_measured_lever(tiny_run, cache, tmp_path):
    run_cli(
        "agents.evaluate",
        f"checkpoint={tiny_run}",
        "planner=cem_fast",
        "eval.episodes=1",
        "eval.baselines=[]",
        "eval.videos=0",
        f"run_dir={tmp_path}",
        "progress=false",
        cache=cache,
    )
    planner = json.loads((tmp_path / "eval.json").read_text())["planner"]
    assert (planner["samples"], planner["iterations"], planner["elite_reuse"]) == (100, 10, 0.5)
    assert planner["name"] == "cem" and planner["horizon"] == 5
