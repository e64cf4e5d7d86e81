"""``python -m agents.evaluate task=reacher-pose checkpoint=PATH planner=cem``.

Plays a docs/protocol.md task with the latent MPC agent, and in the same command the random, zero
and oracle baselines, and writes ``eval.json`` (every field docs/protocol.md asks for) and videos into
``run_dir``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from agents.evaluation.baselines import RandomPolicy, ZeroPolicy
from agents.evaluation.config import HINTS, EvaluateConfig
from agents.evaluation.episodes import Policy, RunStats, play, summarize
from agents.evaluation.oracle import OracleMPC
from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from agents.planners.aids import aids_record, planning_aids
from envs import world_revision
from envs.tasks import PROTOCOL_VERSION, Task, get_task
from worldmodel.api import load
from worldmodel.checkpoint import CheckpointError
from worldmodel.config import task_env_overrides, world_key
from worldmodel.data import atomic_write_text
from worldmodel.model import WorldModel
from worldmodel.runtime.device import autocast_dtype, resolve_device
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.provenance import cpu_name, git_commit
from worldmodel.runtime.seeding import seed_everything

USAGE = """usage: python -m agents.evaluate task=TASK checkpoint=PATH [planner=cem|mppi|gd] [key=value ...]
  python -m agents.evaluate task=reacher-pose checkpoint=runs/reacher-cpu/checkpoint.pt
  python -m agents.evaluate task=wall-door checkpoint=runs/wall-cpu planner=mppi eval.episodes=50"""


def evaluate(cfg: EvaluateConfig) -> dict:
    """Run the task with the agent and the baselines; returns what eval.json holds."""
    device = resolve_device(cfg.device)
    seed_everything(cfg.eval.seed)
    task, model = load_task_and_model(cfg, device)
    run_dir = prepare_run_dir(cfg, task, model)
    parallel = max(
        1, min(cfg.eval.parallel or (25 if device.type == "cuda" else 1), cfg.eval.episodes)
    )
    envs = [task.make_env(**env_settings(model)) for _ in range(parallel)]
    episodes = task.episodes(cfg.eval.seed, cfg.eval.episodes)
    print(
        f"{task.name}: {len(episodes)} episodes, budget {task.budget} env steps, "
        + (
            f"planner {cfg.planner.name} ({cfg.planner.samples}x{cfg.planner.iterations}, "
            f"horizon {cfg.planner.horizon}) on {device}"
            if cfg.eval.agent
            else f"baselines only ({', '.join(cfg.eval.baselines)})"
        )
    )
    agent_result: dict[str, Any] = {}
    stats, cuda_graph = RunStats(), False
    if cfg.eval.agent:
        assert model is not None  # load_task_and_model loads one whenever the agent plays
        agent_result, stats, cuda_graph = play_agent(
            cfg, model, envs, episodes, task, run_dir, device
        )
    path = run_dir / "eval.json"
    origin = provenance(cfg, task, model, device, agent_result.get("planning_aids"))

    def write(baselines: dict[str, Any], partial: bool) -> dict:
        result = {
            "task": task.name,
            "protocol_version": PROTOCOL_VERSION,
            "episodes": len(episodes),
            "seed": cfg.eval.seed,
            "smoke": cfg.eval.episodes < 200,
            "metric": task.metric,
            "agent_played": cfg.eval.agent,
            **agent_result,
            **origin,
            "predictor_calls_per_decision": agent_result.get("rollout_calls_per_decision", 0)
            * cfg.planner.horizon,
            "encoder_calls_per_decision": 1,
            "parallel_episodes": parallel,
            "cuda_graph": cuda_graph,
            "baselines": baselines,
            "videos": stats.videos,
            "date": time.strftime("%Y-%m-%d"),
            **({"partial": "the baselines had not finished"} if partial else {}),
        }
        atomic_write_text(path, json.dumps(result, indent=2) + "\n")
        return result

    if cfg.eval.agent and cfg.eval.baselines:  # the agent's run is kept if a baseline fails
        write({}, partial=True)
    action_dim = int(envs[0].action_space.shape[0])  # [A]
    baselines = play_baselines(cfg, action_dim, envs, episodes, task)
    for env in envs:
        env.close()
    result = write(baselines, partial=False)
    _report(result, path)
    return result


def load_task_and_model(
    cfg: EvaluateConfig, device: torch.device
) -> tuple[Task, WorldModel | None]:
    """The task, and the world model of checkpoint= after checking it was trained on its world.

    A baselines-only run (``eval.agent=false``) with no checkpoint= needs no model: the
    baselines never look at frames, and the envs take the protocol's settings."""
    dmc = {"domain": cfg.eval.domain, "task": cfg.eval.dmc_task}
    task = get_task(cfg.task, **(dmc if cfg.task == "dmc-generic" else {}))
    if not cfg.eval.agent and not cfg.checkpoint:
        return task, None
    key = world_key(task.world, task.env_kwargs)
    checkpoint = cfg.checkpoint or str(Path("runs") / f"{key}-cpu" / "checkpoint.pt")
    model = load(checkpoint, device=str(device))
    _check_world(model, task, checkpoint)
    return task, model


def env_settings(model: WorldModel | None) -> dict[str, int]:
    """How the envs render and step: as the model was trained, or the protocol's defaults
    (64 px, action repeat 5, camera 0) for a baselines-only run without a model."""
    if model is None:
        return {"image_size": 64, "action_repeat": 5, "camera_id": 0}
    meta = model.info["env"]
    return {
        "image_size": model.image_size,
        "action_repeat": meta["action_repeat"],
        "camera_id": meta["kwargs"].get("camera_id", 0),
    }


def prepare_run_dir(cfg: EvaluateConfig, task: Task, model: WorldModel | None) -> Path:
    """The run folder: by default ``runs/eval/<checkpoint's run>/<task>-<planner>-seedN``
    (``runs/eval/baselines/<task>-seedN`` without a model).

    A folder holding another checkpoint's eval.json is refused (its results would be mixed with
    these); the videos of an earlier agent run of the same checkpoint are removed."""
    checkpoint = Path(model.info["path"]).resolve() if model is not None else None
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
    elif checkpoint is None:
        run_dir = Path("runs") / "eval" / "baselines" / f"{task.name}-seed{cfg.eval.seed}"
    else:
        run_dir = (
            Path("runs")
            / "eval"
            / checkpoint.parent.name
            / f"{task.name}-{cfg.planner.name}-seed{cfg.eval.seed}"
        )
    previous = run_dir / "eval.json"
    if previous.exists():
        try:
            old = json.loads(previous.read_text()).get("checkpoint")
        except (OSError, ValueError):
            old = "an unreadable eval.json"
        if old != (str(checkpoint) if checkpoint is not None else None):
            raise InputError(
                f"{run_dir} holds the results of another checkpoint ({old}); choose another "
                f"run_dir= or delete {run_dir}"
            )
    if cfg.eval.agent:
        for video in (run_dir / "videos").glob("*.mp4"):
            video.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def play_agent(
    cfg: EvaluateConfig,
    model: WorldModel,
    envs: list,
    episodes: list,
    task: Task,
    run_dir: Path,
    device: torch.device,
) -> tuple[dict, RunStats, bool]:
    """The latent MPC agent plays every episode: its summary, its stats, whether it used CUDA
    graphs."""
    planner = make_planner(cfg.planner, model.action_dim, device)
    distance, subgoals = planning_aids(cfg.planner, cfg.cost, model.info["path"], device)
    aids = aids_record(distance, subgoals)
    agent = LatentMPCAgent(
        model,
        planner,
        cost=cfg.cost,
        distance=distance,
        subgoals=subgoals,
        replan_every=cfg.eval.replan_every,
        autocast_dtype=autocast_dtype(cfg.eval.amp, device),
        seed=cfg.eval.seed,
        cuda_graph=cfg.eval.cuda_graph,
        compile=cfg.eval.compile,
    )
    stats = play(
        agent,
        envs,
        episodes,
        task,
        desc=f"{cfg.planner.name}",
        videos=cfg.eval.videos,
        video_dir=run_dir / "videos",
        video_scale=cfg.eval.video_scale,
        progress=cfg.progress,
    )
    summary = summarize(stats, task.metric)
    return ({**summary, "planning_aids": aids} if aids else summary), stats, agent.cuda_graph


def play_baselines(
    cfg: EvaluateConfig, action_dim: int, envs: list, episodes: list, task: Task
) -> dict[str, dict]:
    """The floors (random, zero) and the ceiling (oracle: CEM on the true simulator)."""
    baselines = {}
    n_base = cfg.eval.baseline_episodes or cfg.eval.episodes
    oracle_cfg = PlannerConfig(
        name="cem",
        samples=cfg.eval.oracle_samples,
        iterations=cfg.eval.oracle_iterations,
        elites=cfg.eval.oracle_elites,
        horizon=cfg.planner.horizon,
    )
    # The oracle shares the agent's planner structure: a planner that knows the way round
    # obstacles (learned distance, graph subgoals) is matched by the true shortest-way cost.
    path_cost = cfg.eval.oracle_cost == "path" or (
        cfg.eval.oracle_cost == "auto"
        and (cfg.cost.metric == "learned" or cfg.planner.subgoals != "none")
    )
    for name in cfg.eval.baselines:
        policy: Policy
        if name == "random":
            policy = RandomPolicy(action_dim, seed=cfg.eval.seed)
        elif name == "zero":
            policy = ZeroPolicy(action_dim)
        else:  # oracle; EvalSettings refuses any other name at start-up
            policy = OracleMPC(envs, oracle_cfg, seed=cfg.eval.seed, path_cost=path_cost)
        base_stats = play(policy, envs, episodes[:n_base], task, desc=name, progress=cfg.progress)
        baselines[name] = summarize(base_stats, task.metric)
        if name == "oracle":
            baselines[name]["settings"] = {
                "planner": "cem",
                "samples": oracle_cfg.samples,
                "iterations": oracle_cfg.iterations,
                "elites": oracle_cfg.elites,
                "horizon": oracle_cfg.horizon,
                "cost": (
                    "true shortest-way distance (through doors), mean over the horizon"
                    if path_cost
                    else "true goal distance, mean over the horizon"
                ),
                "model": "MuJoCo",
            }
    return baselines


def provenance(
    cfg: EvaluateConfig,
    task: Task,
    model: WorldModel | None,
    device: torch.device,
    aids: dict | None = None,
) -> dict:
    """What the numbers came from: settings (and their hash), checkpoint, device, commit.
    ``aids``: how the agent's learned distance and graph were built (:func:`aids_record`)."""
    env = env_settings(model)
    info = model.info if model is not None else {"path": None, "step": None, "data": {}}
    settings = {
        "task": task.name,
        "env_kwargs": task.env_kwargs,
        "planner": asdict(cfg.planner),
        "cost": asdict(cfg.cost),
        "eval": asdict(cfg.eval),
        "checkpoint_step": info["step"],
        "protocol_version": PROTOCOL_VERSION,
    }
    # a learned distance or graph changes what the planner does: its build settings count too
    if aids is not None:
        settings["planning_aids"] = _stable(aids)
    # dmc-generic is one task over many domains: its row names the domain and task it played
    dmc = {"dmc": f"{cfg.eval.domain}/{cfg.eval.dmc_task}"} if task.world == "dmc" else {}
    return {
        **dmc,
        # of the world the episodes were played in (envs.REVISIONS); the model's own is beside it
        "world_revision": _task_revision(task),
        "model_world_revision": _model_revision(model) if model is not None else None,
        "planner": {**asdict(cfg.planner), "action_repeat": env["action_repeat"]},
        "cost": asdict(cfg.cost),
        "device": str(device),
        "device_name": _device_name(device),
        "torch_version": torch.__version__,
        "amp": cfg.eval.amp,
        "checkpoint": str(Path(info["path"]).resolve()) if info["path"] else None,
        "checkpoint_step": info["step"],
        "checkpoint_data_frames": info["data"].get("frames"),
        "image_size": env["image_size"],
        "git_commit": git_commit(),
        "settings_hash": hashlib.sha256(
            json.dumps(settings, sort_keys=True, default=str).encode()
        ).hexdigest()[:12],
    }


def _stable(record: Any) -> Any:
    """``record`` without what differs between machines or builds of the same settings (data
    paths, build times), so that the settings hash names the settings only."""
    if isinstance(record, dict):
        return {k: _stable(v) for k, v in record.items() if k not in ("data_dir", "dir", "seconds")}
    return record


def _task_revision(task: Task) -> int:
    """The revision of the world ``task`` is played in (``envs.REVISIONS``)."""
    return world_revision(task.world, task.env_kwargs.get("domain"))


def _model_revision(model) -> int:
    """The revision of the world ``model``'s data was collected in (1 before revisions)."""
    return int(model.info["env"].get("world_revision", 1))


def _check_world(model, task, checkpoint: str) -> None:
    meta = model.info["env"]
    if meta["name"] != task.world:
        raise CheckpointError(
            f"{checkpoint} was trained on world {meta['name']!r} but task {task.name!r} is played in world "
            f"{task.world!r}; train one with `python -m worldmodel.train env={task.world}`"
        )
    if task.world == "dmc":
        want = (task.env_kwargs["domain"], task.env_kwargs["task"])
        have = (meta["kwargs"].get("domain"), meta["kwargs"].get("task"))
        if want != have:
            raise CheckpointError(
                f"{checkpoint} was trained on dm_control {have[0]}/{have[1]}, not {want[0]}/{want[1]}"
            )
    for key, value in task.env_kwargs.items():  # same world, other looks (reacher's target)
        if key in meta["kwargs"] and meta["kwargs"][key] != value:
            print(
                f"warning: {checkpoint} was trained with {key}={meta['kwargs'][key]!r}; task {task.name!r} "
                f"uses {key}={value!r}, so its frames differ from the training data"
            )
    trained, now = _model_revision(model), _task_revision(task)
    if trained < now:
        domain = task.env_kwargs.get("domain")
        world = f"dmc/{domain}" if task.world == "dmc" else task.world
        train = " ".join(task_env_overrides(task.world, task.env_kwargs))
        print(
            f"warning: {checkpoint} was trained on revision {trained} of world {world!r}, which "
            f"has changed since (now revision {now}, see envs.REVISIONS); retrain it with "
            f"`python -m worldmodel.train {train}` (new data is collected)"
        )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def _report(r: dict, path: Path) -> None:
    if not r["agent_played"]:
        head = "the agent was not played (eval.agent=false)"
    elif r["metric"] == "return":
        head = f"mean return {r['mean_return']:.1f} (95% CI {r['return_ci95'][0]:.1f}-{r['return_ci95'][1]:.1f})"
    else:
        lo, hi = r["success_ci95"]
        head = f"success {r['success_rate']:.1%} (95% CI {lo:.1%}-{hi:.1%})"
    if r["agent_played"]:
        head += (
            f"; decision latency median {r.get('plan_ms_median', float('nan')):.1f} ms, "
            f"p95 {r.get('plan_ms_p95', float('nan')):.1f} ms"
        )
    print(f"{r['task']} over {r['episodes']} episodes{' (smoke)' if r['smoke'] else ''}: {head}")
    for name, b in r["baselines"].items():
        val = (
            f"return {b['mean_return']:.1f}"
            if r["metric"] == "return"
            else f"success {b['success_rate']:.1%}"
        )
        print(f"  baseline {name}: {val}")
    print(f"results: {path}")
    if r["videos"]:
        print(f"videos:  {Path(r['videos'][0]).parent}")


def main(argv: list[str] | None = None) -> dict:
    from worldmodel.runtime.cli import run_command

    return run_command(
        evaluate,
        argv,
        config_name="evaluate",
        schema=EvaluateConfig,
        usage=USAGE,
        name="agents.evaluate",
        hints=HINTS,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
