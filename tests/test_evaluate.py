"""agents.evaluate end to end on a tiny checkpoint: eval.json fields, videos, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from agents.evaluation.episodes import wilson
from tests.conftest import run_cli

FIELDS = (
    "task",
    "protocol_version",
    "episodes",
    "seed",
    "smoke",
    "success_rate",
    "success_ci95",
    "mean_final_distance",
    "steps_to_success_mean",
    "plan_ms_median",
    "plan_ms_p95",
    "transitions_per_s",
    "rollout_calls_per_decision",
    "predictor_calls_per_decision",
    "device",
    "device_name",
    "torch_version",
    "checkpoint",
    "checkpoint_data_frames",
    "git_commit",
    "settings_hash",
    "world_revision",
    "model_world_revision",
    "planner",
    "baselines",
    "per_episode",
)


@pytest.mark.parametrize("planner", ["cem", "mppi", "gd"])
def test_evaluate_writes_every_field_and_a_video(tiny_run, cache, tmp_path, planner):
    out_dir = tmp_path / planner
    out = run_cli(
        "agents.evaluate",
        "preset=debug",
        f"planner={planner}",
        f"checkpoint={tiny_run}",
        f"run_dir={out_dir}",
        "progress=false",
        cache=cache,
    )
    result = json.loads((out_dir / "eval.json").read_text())
    missing = [f for f in FIELDS if f not in result]
    assert not missing, missing
    assert result["task"] == "reacher-pose" and result["episodes"] == 2 and result["smoke"] is True
    assert set(result["baselines"]) == {"random", "zero", "oracle"}
    assert result["baselines"]["oracle"]["settings"]["model"] == "MuJoCo"
    assert result["planner"]["name"] == planner and result["planner"]["action_repeat"] == 5
    # reacher was never revised: played and trained on revision 1
    assert result["world_revision"] == result["model_world_revision"] == 1
    assert result["plan_ms_median"] > 0 and result["transitions_per_s"] > 0
    lo, hi = result["success_ci95"]
    assert 0 <= lo <= result["success_rate"] <= hi <= 1
    rows = result["per_episode"]  # one per episode, agreeing with the totals
    assert all(len(v) == result["episodes"] for v in rows.values())
    assert sum(rows["success"]) / result["episodes"] == result["success_rate"]
    assert sum(rows["final_distance"]) / result["episodes"] == pytest.approx(
        result["mean_final_distance"], abs=1e-4
    )
    assert all(d > 0 for d in rows["start_distance"])  # reacher-pose never starts at its goal
    assert len(result["baselines"]["random"]["per_episode"]["success"]) == result["episodes"]
    videos = list((out_dir / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    assert "success" in out.stdout and "decision latency" in out.stdout


def test_checkpoint_of_another_world_is_rejected(tiny_run, cache, tmp_path):
    out = run_cli(
        "agents.evaluate",
        "preset=debug",
        "task=wall-door",
        f"checkpoint={tiny_run}",
        f"run_dir={tmp_path}",
        cache=cache,
        check=False,
    )
    assert out.returncode == 2
    assert "trained on world 'reacher'" in out.stderr and "env=wall" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, expected",
    [
        (["task=reacher-nope"], "task='reacher-nope' is unknown; choose one of reacher-pose"),
        (["seed=7"], "seed is not a setting of agents.evaluate; the evaluation seed is eval.seed"),
        (["env.image_size=32"], "env.image_size is not a setting of agents.evaluate; the world"),
        (["env=wall"], "env is not a setting of agents.evaluate"),
        (["model.depth=2"], "model.depth is not a setting of agents.evaluate; the model comes"),
        (["train.steps=2"], "train.steps is not a setting of agents.evaluate"),
        (["planner.cost=l1"], "the goal cost is cost.metric=l2|l1|cosine"),
        (["cost.metric=huber"], "cost.metric='huber' is unknown"),
        (["eval.baselines=[randm]"], "eval.baselines='randm' is unknown; choose one of random"),
        (["eval.episodes=0"], "eval.episodes must be >= 1, got 0"),
        (["eval.episodes=-3"], "eval.episodes must be >= 1, got -3"),
        (["eval.seed=-1"], "eval.seed must be >= 0, got -1"),
        (["eval.amp=fp16"], "eval.amp='fp16' is unknown"),
        (["eval.replan_every=9"], "eval.replan_every=9 exceeds planner.horizon=5"),
        (["planner=rrt"], "planner='rrt' is unknown; choose one of cem"),
        (["planner.elites=999"], "planner.elites=999"),
        (["checkpoint=/nonexistent/ckpt.pt"], "no such checkpoint"),
        (["task=dmc-generic", "eval.domain=foo"], "unknown dm_control domain 'foo'; choose one"),
        (
            ["task=dmc-generic", "eval.domain=point_mass", "eval.dmc_task=easy", "checkpoint="],
            "cannot make useful episodes (its goals barely move from the start)",
        ),
    ],
)
def test_bad_evaluate_input(args, expected, tiny_run, cache, tmp_path):
    if not any(a.startswith("checkpoint=") for a in args):
        args.append(f"checkpoint={tiny_run}")
    if args[-1] == "checkpoint=":  # no model: only the baselines would play
        args.append("eval.agent=false")
    out = run_cli(
        "agents.evaluate", "preset=debug", f"run_dir={tmp_path}", *args, cache=cache, check=False
    )
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line
    assert not (tmp_path / "eval.json").exists()  # refused before any episode was played


def test_wilson_interval():
    lo, hi = wilson(180, 200)
    assert lo == pytest.approx(0.8506, abs=1e-3) and hi == pytest.approx(0.9343, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_baselines_only_run(tiny_run, cache, tmp_path):
    run_cli(
        "agents.evaluate",
        "preset=debug",
        "eval.agent=false",
        f"checkpoint={tiny_run}",
        f"run_dir={tmp_path}",
        "progress=false",
        cache=cache,
    )
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["agent_played"] is False and "success_rate" not in result
    assert set(result["baselines"]) == {"random", "zero", "oracle"}
    assert result["baselines"]["random"]["episodes"] == result["episodes"] == 2
    assert "dmc" not in result  # only dmc-generic rows name a domain


def test_dmc_generic_rows_name_their_domain(cache, tmp_path):
    run_cli(
        "agents.evaluate",
        "preset=debug",
        "task=dmc-generic",
        "eval.domain=finger",
        "eval.dmc_task=spin",
        "eval.agent=false",
        "eval.baselines=[zero]",
        f"run_dir={tmp_path}",
        "progress=false",
        cache=cache,
    )
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["dmc"] == "finger/spin"
    zero = result["baselines"]["zero"]  # which joints each episode ends off the goal on
    missed = zero["per_episode"]["missed"]
    assert len(missed) == 2 and [not m for m in missed] == zero["per_episode"]["success"]
    assert set(zero["misses_by_coordinate"]) <= {"proximal", "distal", "hinge"}
    assert set(zero["misses_by_coordinate"]) == {c for m in missed for c in m}


def test_misses_by_coordinate_count_each_coordinate_and_the_sole_ones():
    from agents.evaluation.episodes import EpisodeResult, RunStats, summarize

    stats = RunStats(
        episodes=[
            EpisodeResult(False, 0.3, 100, 0.0, 0.5, ("a",)),
            EpisodeResult(False, 0.4, 100, 0.0, 0.5, ("a", "b")),
            EpisodeResult(True, 0.01, 40, 0.0, 0.5, ()),
            EpisodeResult(False, 0.2, 100, 0.0, 0.5, ("b",)),
        ]
    )
    out = summarize(stats, "success")
    assert out["misses_by_coordinate"] == {"a": 0.5, "b": 0.5}
    assert out["sole_misses_by_coordinate"] == {"a": 0.25, "b": 0.25}
    assert out["per_episode"]["missed"] == [["a"], ["a", "b"], [], ["b"]]
    stats.episodes[0].missed = None  # a world without coordinates: no such fields
    assert "misses_by_coordinate" not in summarize(stats, "success")


def test_baselines_only_run_needs_no_checkpoint(cache, tmp_path):
    """eval.agent=false without checkpoint=: the baselines play with the protocol's settings."""
    run_cli(
        "agents.evaluate",
        "preset=debug",
        "task=reacher-pose",
        "eval.agent=false",
        "eval.baselines=[random,zero]",
        f"run_dir={tmp_path}",
        "progress=false",
        cache=cache,
    )
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["agent_played"] is False and result["checkpoint"] is None
    assert result["planner"]["action_repeat"] == 5 and result["image_size"] == 64
    assert set(result["baselines"]) == {"random", "zero"}
    assert result["baselines"]["random"]["episodes"] == result["episodes"] == 2


def test_blind_baselines_play_the_same_episodes():
    """Baselines skip rendering (GoalEnv.blind); their episodes must not change for it."""
    from agents.evaluation.baselines import RandomPolicy
    from agents.evaluation.episodes import play
    from envs.tasks import get_task

    class Looking(RandomPolicy):
        uses_frames = True  # the same policy, but play renders its frames

    task = get_task("reacher-pose")
    env = task.make_env(image_size=32, action_repeat=5)
    episodes = task.episodes(0, 3)
    blind = play(RandomPolicy(2, seed=1), [env], episodes, task, desc="b", progress=False)
    seen = play(Looking(2, seed=1), [env], episodes, task, desc="s", progress=False)
    assert blind.episodes == seen.episodes
    assert not env.unwrapped.blind  # play restores rendering
    env.close()


def test_run_folder_depends_on_the_checkpoint_and_refuses_another_ones(tiny_run, cache, tmp_path):
    common = ["preset=debug", "progress=false", "eval.baselines=[]", "eval.videos=1"]
    run_cli("agents.evaluate", *common, f"checkpoint={tiny_run}", cache=cache, cwd=tmp_path)
    folder = tmp_path / "runs" / "eval" / tiny_run.name / "reacher-pose-cem-seed0"
    assert (folder / "eval.json").exists()
    stale = folder / "videos" / "episode_099.mp4"
    stale.write_bytes(b"old")  # a video an earlier run of the same checkpoint left
    run_cli("agents.evaluate", *common, f"checkpoint={tiny_run}", cache=cache, cwd=tmp_path)
    assert not stale.exists() and len(list((folder / "videos").glob("*.mp4"))) == 1
    other = tmp_path / "other_run"
    shutil.copytree(tiny_run, other)
    out = run_cli(
        "agents.evaluate",
        *common,
        f"checkpoint={other}",
        f"run_dir={folder}",
        cache=cache,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 2 and "holds the results of another checkpoint" in out.stderr
    assert json.loads((folder / "eval.json").read_text())["checkpoint"].startswith(str(tiny_run))


def test_goal_images_in_a_users_own_env(tiny_run, cache, tmp_path):
    """agents.evaluation.goals plays one episode per goal image in any frame-observation env
    (frames of another size are resized), and refuses a goals file without images."""
    import numpy as np

    import envs

    env = envs.make("reacher", image_size=48)  # not the model's 32 px: resized
    goals = np.stack([env.reset(seed=100 + s)[1]["goal"] for s in range(2)])
    env.close()
    np.savez(tmp_path / "goals.npz", goals=goals)
    args = [
        f"checkpoint={tiny_run / 'checkpoint.pt'}",
        "env_id=worldmodel/Reacher-v0",
        "decisions=3",
        "planner.samples=16",
        "planner.iterations=2",
        "planner.elites=4",
        "progress=false",
    ]
    run_cli(
        "agents.evaluation.goals",
        *args,
        f"goals={tmp_path / 'goals.npz'}",
        f"run_dir={tmp_path / 'out'}",
        cache=cache,
    )
    result = json.loads((tmp_path / "out" / "goals.json").read_text())
    assert len(result["episodes"]) == 2 and all(e["steps"] == 3 for e in result["episodes"])
    assert result["mean_final_embedding_distance"] > 0
    np.savez(tmp_path / "bad.npz", other=goals)
    bad = run_cli(
        "agents.evaluation.goals",
        *args,
        f"goals={tmp_path / 'bad.npz'}",
        f"run_dir={tmp_path / 'bad'}",
        cache=cache,
        check=False,
    )
    assert bad.returncode == 2 and "bad.npz" in bad.stderr and "Traceback" not in bad.stderr


def test_the_agents_run_is_kept_when_a_baseline_fails(tiny_run, cache, tmp_path, monkeypatch):
    from agents.evaluation import evaluate as ev

    def broken(*args, **kwargs):
        raise RuntimeError("the oracle crashed")

    monkeypatch.setattr(ev, "play_baselines", broken)
    out_dir = tmp_path / "kept"
    argv = ["preset=debug", f"checkpoint={tiny_run}", f"run_dir={out_dir}", "progress=false"]
    with pytest.raises((RuntimeError, SystemExit)):
        ev.main(argv)
    kept = json.loads((out_dir / "eval.json").read_text())
    assert kept["partial"] == "the baselines had not finished" and kept["baselines"] == {}
    assert kept["episodes"] == 2 and 0 <= kept["success_rate"] <= 1
    # a run that finishes leaves no partial mark
    monkeypatch.undo()
    ev.main([*argv, "eval.videos=0"])
    done = json.loads((out_dir / "eval.json").read_text())
    assert "partial" not in done and set(done["baselines"]) == {"random", "zero", "oracle"}


def test_a_model_of_an_older_world_revision_is_warned_with_the_retrain_command(capsys):
    from types import SimpleNamespace

    import envs
    from agents.evaluation.evaluate import _check_world
    from envs.tasks import get_task

    task = get_task("dmc-generic", domain="swimmer", task="swimmer6")
    kwargs = {"domain": "swimmer", "task": "swimmer6"}
    old = SimpleNamespace(info={"env": {"name": "dmc", "kwargs": kwargs, "world_revision": 1}})
    _check_world(old, task, "runs/old-swimmer")
    warning = capsys.readouterr().out
    assert "revision 1 of world 'dmc/swimmer'" in warning
    assert "env=dmc env.domain=swimmer env.task=swimmer6" in warning
    now = envs.world_revision("dmc", "swimmer")
    new = SimpleNamespace(info={"env": {"name": "dmc", "kwargs": kwargs, "world_revision": now}})
    _check_world(new, task, "runs/new-swimmer")
    assert capsys.readouterr().out == ""
    # another domain of the same world is not concerned by swimmer's revision
    cartpole = get_task("dmc-generic", domain="cartpole", task="swingup")
    meta = {"name": "dmc", "kwargs": {"domain": "cartpole", "task": "swingup"}}
    _check_world(SimpleNamespace(info={"env": meta}), cartpole, "runs/cartpole")
    assert capsys.readouterr().out == ""


def test_settings_hash_ignores_where_and_how_long_a_distance_was_built():
    from agents.evaluation.evaluate import _stable

    def built(where: str, seconds: float) -> dict:
        config = {"data": {"dir": where, "episodes": [0, 1]}, "max_nodes": 60000}
        return {
            "distance": {
                "config": {"steps": 4000},
                "data_dir": where,
                "nodes": 9,
                "seconds": seconds,
            },
            "graph": {"nodes": 9, "config": config},
        }

    here, there = _stable(built("/root/a", 110.4)), _stable(built("/home/b", 95.0))
    assert here == there
    assert here["graph"]["config"]["data"] == {"episodes": [0, 1]}  # which episodes still counts
    assert _stable(built("/root/a", 1.0)) != _stable(
        {**built("/root/a", 1.0), "graph": {"nodes": 8}}
    )
