"""benchmarks/rl_representation.py: which runs it starts, and which it reads back with --reuse.

The SAC runs themselves (``python -m agents.rl``) are covered end to end in test_rl.py; here the
subprocess is replaced by one that writes what a finished run writes, so that the benchmark's
own bookkeeping is checked in a second.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks import rl_representation


@pytest.fixture(scope="module")
def checkpoint(tiny_run) -> Path:
    """The session's preset=debug reacher model: its checkpoint file."""
    return tiny_run / "checkpoint.pt"


@pytest.fixture()
def fake_runs(monkeypatch):
    """Replace the agents.rl subprocess; returns the (representation, seed) of each run started."""
    started: list[tuple[str, int]] = []
    real_run = subprocess.run

    def fake_run(cmd, **kwargs):
        if cmd[1:3] != ["-m", "agents.rl"]:  # git, for the commit in the summary
            return real_run(cmd, **kwargs)
        args = dict(a.split("=", 1) for a in cmd[3:] if "=" in a)
        run_dir = Path(args["run_dir"])
        seed, rep = int(args["seed"]), args["representation"]
        half = 0.5 if rep == "jepa" else 1.0  # jepa scores half of what the others do
        if "rl.evaluate" in args:  # the saved agent, played again: seed s scores 200 + s
            n = int(args["rl.eval_episodes"])
            started.append((f"{rep} again", seed))
            ret = half * (200.0 + seed)
            again = {"episodes": n, "mean_return": ret, "std_return": 0.0}
            again |= {"returns": [ret] * n, "replays_final_evaluation": True}
            again["reward_timing"] = [{"first": seed, "exits": 2}] * n  # reached at decision s
            (Path(args["rl.evaluate"]) / f"evaluation-{n}.json").write_text(json.dumps(again))
            return subprocess.CompletedProcess(cmd, 0)
        if rep == "jepa":  # its settings are explicit on the command line
            started.append((rep, seed, int(args["rl.frame_stack"]), int(args["rl.trunk"])))
        elif (args["rl.critic_dropout"], args["rl.critic_layer_norm"]) != ("0.01", "true"):
            critic = (float(args["rl.critic_dropout"]), args["rl.critic_layer_norm"])
            started.append((rep, seed, *critic))  # a critic other than the default, DroQ's
        elif "rl.gradient_steps" in args or "rl.train_freq" in args:
            updates = (int(args.get("rl.gradient_steps", 1)), int(args.get("rl.train_freq", 1)))
            started.append((rep, seed, *updates))
        else:
            started.append((rep, seed))
        result = {"representation": rep, "seed": seed, "final_return": half * (100.0 + seed)}
        (run_dir / "result.json").write_text(json.dumps({**result, "wall_time_s": 1.0}))
        (run_dir / "curve.csv").write_text("env_steps,episode_return\n500,1.0\n1000,2.0\n")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(rl_representation.subprocess, "run", fake_run)
    return started


def _bench(checkpoint: Path, tmp_path: Path, *extra: str) -> dict:
    return rl_representation.main(
        [
            f"--checkpoint={checkpoint}",
            "--representations=state",
            "--steps=1000",
            "--jobs=1",
            f"--runs-dir={tmp_path / 'runs'}",
            f"--out={tmp_path / 'out'}",
            *extra,
        ]
    )


def test_reuse_runs_only_the_seeds_not_yet_run_and_pools_them(checkpoint, tmp_path, fake_runs):
    first = _bench(checkpoint, tmp_path, "--seeds=2")
    assert fake_runs == [("state", 0), ("state", 1)]
    assert first["results"]["state"]["final_returns"] == [100.0, 101.0]

    pooled = _bench(checkpoint, tmp_path, "--seeds=3", "--reuse")
    assert fake_runs[2:] == [("state", 2)]  # seeds 0 and 1 read back, not run again
    state = pooled["results"]["state"]
    assert state["seeds"] == [0, 1, 2] and state["final_returns"] == [100.0, 101.0, 102.0]
    assert [r["reused"] for r in pooled["runs"]] == [True, True, False]
    written = json.loads((tmp_path / "out" / "rl_representation.json").read_text())
    assert written["results"]["state"]["mean"] == pytest.approx(101.0)


def test_first_seed_runs_the_seeds_from_there_and_reads_back_those_only(
    checkpoint, tmp_path, fake_runs
):
    _bench(checkpoint, tmp_path, "--seeds=1")  # seed 0, as if run elsewhere
    later = _bench(checkpoint, tmp_path, "--seeds=2", "--first-seed=3", "--reuse")
    assert fake_runs == [("state", 0), ("state", 3), ("state", 4)]
    assert later["results"]["state"]["seeds"] == [3, 4]
    assert later["results"]["state"]["final_returns"] == [103.0, 104.0]
    again = _bench(checkpoint, tmp_path, "--seeds=2", "--first-seed=3", "--reuse")
    assert len(fake_runs) == 3 and [r["reused"] for r in again["runs"]] == [True, True]


def test_bad_seed_range_is_refused(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _bench(checkpoint, tmp_path, "--seeds=2", "--first-seed=-1")
    assert "--first-seed" in capsys.readouterr().err


def test_reuse_reruns_a_run_of_another_command_or_checkpoint(
    checkpoint, tmp_path, fake_runs, monkeypatch
):
    _bench(checkpoint, tmp_path, "--seeds=1")
    _bench(checkpoint, tmp_path, "--seeds=1", "--steps=2000", "--reuse")  # another command
    assert fake_runs == [("state", 0), ("state", 0)]
    _bench(checkpoint, tmp_path, "--seeds=1", "--steps=2000", "--reuse")
    assert len(fake_runs) == 2  # the same command and file: read back

    # The same command on a checkpoint whose bytes changed (a model retrained in place).
    import worldmodel.data

    monkeypatch.setattr(worldmodel.data, "sha256", lambda path: "0" * 64)
    _bench(checkpoint, tmp_path, "--seeds=1", "--steps=2000", "--reuse")
    assert len(fake_runs) == 3


def test_jepa_runs_name_their_settings_and_other_settings_are_run_again(
    checkpoint, tmp_path, fake_runs
):
    jepa = "--representations=jepa"
    _bench(checkpoint, tmp_path, jepa, "--seeds=1")
    assert fake_runs == [("jepa", 0, 3, 0)]  # explicit on the command line: 3 frames, no trunk
    _bench(checkpoint, tmp_path, jepa, "--seeds=1", "--frame-stack=2", "--reuse")
    assert fake_runs[1:] == [("jepa", 0, 2, 0)]  # not read back as the run of 3 frames
    _bench(checkpoint, tmp_path, jepa, "--seeds=1", "--frame-stack=2", "--reuse")
    assert len(fake_runs) == 2
    assert "last 2 frames." in (tmp_path / "out" / "rl_representation.md").read_text()
    _bench(checkpoint, tmp_path, jepa, "--seeds=1", "--frame-stack=2", "--trunk=50", "--reuse")
    assert fake_runs[2:] == [("jepa", 0, 2, 50)]
    assert "trunk of width 50" in (tmp_path / "out" / "rl_representation.md").read_text()
    for bad in ("--frame-stack=0", "--trunk=-1"):
        with pytest.raises(SystemExit):
            _bench(checkpoint, tmp_path, jepa, bad)


def test_sac_update_settings_are_named_only_when_not_one(checkpoint, tmp_path, fake_runs):
    _bench(checkpoint, tmp_path, "--seeds=1")
    _bench(checkpoint, tmp_path, "--seeds=1", "--gradient-steps=1", "--reuse")
    assert fake_runs == [("state", 0)]  # 1 is SB3's default, left off: the first run read back
    _bench(checkpoint, tmp_path, "--seeds=1", "--gradient-steps=2", "--reuse")
    assert fake_runs[1:] == [("state", 0, 2, 1)]  # not read back as the run of 1
    md = (tmp_path / "out" / "rl_representation.md").read_text()
    assert "rl.gradient_steps=2, rl.train_freq=1." in md
    _bench(checkpoint, tmp_path, "--seeds=1", "--train-freq=2", "--reuse")
    assert fake_runs[2:] == [("state", 0, 1, 2)]
    for bad in ("--gradient-steps=0", "--train-freq=0"):
        with pytest.raises(SystemExit):
            _bench(checkpoint, tmp_path, bad)


def test_critic_settings_are_always_named_and_a_plain_run_of_before_is_not_read_back(
    checkpoint, tmp_path, fake_runs
):
    _bench(checkpoint, tmp_path, "--seeds=1")  # the default critic, DroQ's
    md = (tmp_path / "out" / "rl_representation.md").read_text()
    assert "Q networks have dropout 0.01 and layer norm after each hidden layer." in md
    run_dir = tmp_path / "runs" / "state-seed0"
    provenance = json.loads((run_dir / "benchmark_run.json").read_text())
    assert provenance["command"][-2:] == ["rl.critic_dropout=0.01", "rl.critic_layer_norm=true"]
    # A run of 2026-12-07 with DroQ's critic named it the same way: read back.
    _bench(checkpoint, tmp_path, "--seeds=1", "--critic-dropout=0.01", "--reuse")
    assert fake_runs == [("state", 0)]
    # A run from before, whose command left the critic off, had SB3's plain critic: run again.
    provenance["command"] = provenance["command"][:-2]
    (run_dir / "benchmark_run.json").write_text(json.dumps(provenance))
    _bench(checkpoint, tmp_path, "--seeds=1", "--reuse")
    assert fake_runs[1:] == [("state", 0)]
    plain = ("--critic-dropout=0", "--no-critic-layer-norm", "--reuse")
    _bench(checkpoint, tmp_path, "--seeds=1", *plain)
    assert fake_runs[2:] == [("state", 0, 0.0, "false")]
    md = (tmp_path / "out" / "rl_representation.md").read_text()
    assert "Q networks are SB3's plain MLPs." in md
    _bench(checkpoint, tmp_path, "--seeds=1", "--critic-dropout=0", "--reuse")
    assert fake_runs[3:] == [("state", 0, 0.0, "true")]
    with pytest.raises(SystemExit):
        _bench(checkpoint, tmp_path, "--critic-dropout=1")


def test_without_reuse_every_run_starts_again(checkpoint, tmp_path, fake_runs):
    _bench(checkpoint, tmp_path, "--seeds=1")
    _bench(checkpoint, tmp_path, "--seeds=1")
    assert fake_runs == [("state", 0), ("state", 0)]


def test_a_run_that_did_not_finish_is_not_reused(checkpoint, tmp_path, fake_runs):
    _bench(checkpoint, tmp_path, "--seeds=1")
    (tmp_path / "runs" / "state-seed0" / "result.json").unlink()  # killed before it wrote it
    _bench(checkpoint, tmp_path, "--seeds=1", "--reuse")
    assert fake_runs == [("state", 0), ("state", 0)]


def test_reevaluate_plays_each_agent_again_and_reads_it_back_with_reuse(
    checkpoint, tmp_path, fake_runs
):
    summary = _bench(checkpoint, tmp_path, "--seeds=3", "--reevaluate=50")
    assert fake_runs == [("state", 0), ("state", 1), ("state", 2)] + [
        ("state again", s) for s in range(3)
    ]
    state = summary["results"]["state"]
    assert state["reevaluation_episodes"] == 50 and state["reevaluated_returns"] == [200, 201, 202]
    assert state["reevaluated_mean"] == pytest.approx(201.0)
    lo, hi = state["reevaluated_ci95"]
    assert 200 <= lo < 201 < hi <= 202
    assert state["final_returns"] == [100.0, 101.0, 102.0]  # the runs' own result, kept
    md = (tmp_path / "out" / "rl_representation.md").read_text()
    assert "again over 50 deterministic episodes" in md and "200, 201, 202" in md
    assert state["episode_profile"] == {"missed": 0.0, "between": 1.0, "held": 0.0}
    assert state["between_timing"] == {"episodes": 150, "first_median": 1.0, "exits_mean": 2.0}
    assert "| state | 0% | 100% | 0% |" in md

    _bench(checkpoint, tmp_path, "--seeds=4", "--reevaluate=50", "--reuse")
    assert fake_runs[6:] == [("state", 3), ("state again", 3)]  # only the new seed's

    # An evaluation that played other episodes than the run's own is run again, not read.
    file = tmp_path / "runs" / "state-seed1" / "evaluation-50.json"
    file.write_text(json.dumps({**json.loads(file.read_text()), "replays_final_evaluation": False}))
    _bench(checkpoint, tmp_path, "--seeds=4", "--reevaluate=50", "--reuse")
    assert fake_runs[8:] == [("state again", 1)]


def test_summary_gives_each_representation_over_state(checkpoint, tmp_path, fake_runs):
    summary = _bench(checkpoint, tmp_path, "--representations=jepa,state", "--seeds=3")
    ratio = summary["ratio_to_state"]["jepa"]
    assert ratio["of"] == "final_returns" and ratio["ratio"] == pytest.approx(50.5 / 101)
    lo, hi = ratio["ci95"]
    assert 50 / 102 <= lo < ratio["ratio"] < hi <= 52 / 100

    summary = _bench(
        checkpoint, tmp_path, "--representations=jepa,state", "--seeds=3", "--reuse",
        "--reevaluate=50",
    )  # fmt: skip
    ratio = summary["ratio_to_state"]["jepa"]
    assert ratio["of"] == "reevaluated_returns" and ratio["ratio"] == pytest.approx(100.5 / 201)
    md = (tmp_path / "out" / "rl_representation.md").read_text()
    assert "jepa / state, mean the longer evaluation's returns: **50%**" in md
    assert _bench(checkpoint, tmp_path, "--seeds=1")["ratio_to_state"] == {}  # state alone


def test_episode_profile_splits_missed_between_and_held():
    """Same mean, different agents: one misses half its targets and holds the rest, the
    other reaches every target and drifts off."""
    profile = rl_representation.episode_profile
    missed_below, held_from = rl_representation.MISSED_BELOW, rl_representation.HELD_FROM
    bimodal = profile(np.array([0.0, 10.0, 990.0, 1000.0]))
    assert bimodal == {"missed": 0.5, "between": 0.0, "held": 0.5}
    drifting = profile(np.array([500.0, 500.0, 500.0, 500.0]))
    assert drifting == {"missed": 0.0, "between": 1.0, "held": 0.0}
    edges = profile(np.array([missed_below, held_from, missed_below - 1e-3]))
    assert edges["missed"] == pytest.approx(1 / 3) and edges["held"] == pytest.approx(1 / 3)


def test_between_timing_reads_only_the_episodes_in_between():
    timing = rl_representation.between_timing
    returns = np.array([0.0, 300.0, 600.0, 1000.0])
    timings = [
        {"first": None, "exits": 0},  # missed
        {"first": 120, "exits": 1},  # late
        {"first": 4, "exits": 30},  # slipping off
        {"first": 2, "exits": 0},  # held
    ]
    assert timing(returns, timings) == {"episodes": 2, "first_median": 62.0, "exits_mean": 15.5}
    assert timing(np.array([0.0]), [{"first": None, "exits": 0}]) == {
        "episodes": 0,
        "first_median": None,
        "exits_mean": None,
    }
