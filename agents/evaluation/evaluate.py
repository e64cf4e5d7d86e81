"""``python -m agents.evaluate task=reacher-pose checkpoint=PATH planner=cem``.

Plays a PROTOCOL.md task with the latent MPC agent, and in the same command the random, zero
and oracle baselines, and writes ``eval.json`` (every field PROTOCOL.md asks for) and videos into
``run_dir``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from agents.evaluation.baselines import RandomPolicy, ZeroPolicy
from agents.evaluation.config import EvaluateConfig
from agents.evaluation.episodes import RunStats, play, summarize
from agents.evaluation.oracle import OracleMPC
from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from envs.tasks import PROTOCOL_VERSION, get_task
from worldmodel.api import load
from worldmodel.checkpoint import CheckpointError
from worldmodel.config import world_key
from worldmodel.runtime.device import autocast_dtype, resolve_device
from worldmodel.runtime.provenance import cpu_name, git_commit
from worldmodel.runtime.seeding import seed_everything

USAGE = """usage: python -m agents.evaluate task=TASK checkpoint=PATH [planner=cem|mppi|gd] [key=value ...]
  python -m agents.evaluate task=reacher-pose checkpoint=runs/reacher-cpu/checkpoint.pt
  python -m agents.evaluate task=wall-door checkpoint=runs/wall-cpu planner=mppi eval.episodes=50"""


def evaluate(cfg: EvaluateConfig) -> dict:
    """Run the task with the agent and the baselines; returns what eval.json holds."""
    task = get_task(
        cfg.task,
        **(
            {"domain": cfg.eval.domain, "task": cfg.eval.dmc_task}
            if cfg.task == "dmc-generic"
            else {}
        ),
    )
    device = resolve_device(cfg.device)
    seed_everything(cfg.eval.seed)
    key = world_key(task.world, task.env_kwargs)
    checkpoint = cfg.checkpoint or str(Path("runs") / f"{key}-cpu" / "checkpoint.pt")
    model = load(checkpoint, device=str(device))
    _check_world(model, task, checkpoint)
    meta = model.info["env"]
    envs_kwargs = {"camera_id": meta["kwargs"].get("camera_id", 0)}
    parallel = cfg.eval.parallel or (25 if device.type == "cuda" else 1)
    parallel = max(1, min(parallel, cfg.eval.episodes))
    envs = [
        task.make_env(
            image_size=model.image_size, action_repeat=meta["action_repeat"], **envs_kwargs
        )
        for _ in range(parallel)
    ]
    run_dir = (
        Path(cfg.run_dir)
        if cfg.run_dir
        else Path("runs") / "eval" / f"{task.name}-{cfg.planner.name}-seed{cfg.eval.seed}"
    )
    run_dir.mkdir(parents=True, exist_ok=True)
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

    result = {
        "task": task.name,
        "protocol_version": PROTOCOL_VERSION,
        "episodes": len(episodes),
        "seed": cfg.eval.seed,
        "smoke": cfg.eval.episodes < 200,
        "metric": task.metric,
        "agent_played": cfg.eval.agent,
    }
    stats, cuda_graph = RunStats(), False
    if cfg.eval.agent:
        planner = make_planner(cfg.planner, model.action_dim, device)
        agent = LatentMPCAgent(
            model,
            planner,
            cost=cfg.planner.cost,
            cost_weighting=cfg.planner.cost_weighting,
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
        cuda_graph = agent.cuda_graph
        result.update(summarize(stats, task.metric))

    baselines = {}
    n_base = cfg.eval.baseline_episodes or cfg.eval.episodes
    action_dim = model.action_dim
    for name in cfg.eval.baselines:
        if name == "random":
            policy = RandomPolicy(action_dim, seed=cfg.eval.seed)
        elif name == "zero":
            policy = ZeroPolicy(action_dim)
        elif name == "oracle":
            oracle_cfg = PlannerConfig(
                name="cem",
                samples=cfg.eval.oracle_samples,
                iterations=cfg.eval.oracle_iterations,
                elites=cfg.eval.oracle_elites,
                horizon=cfg.planner.horizon,
                cost_weighting="all",
            )
            policy = OracleMPC(envs, oracle_cfg, seed=cfg.eval.seed)
        else:
            raise ValueError(
                f"eval.baselines: unknown baseline {name!r}; choose from random, zero, oracle"
            )
        base_stats = play(policy, envs, episodes[:n_base], task, desc=name, progress=cfg.progress)
        baselines[name] = summarize(base_stats, task.metric)
        if name == "oracle":
            baselines[name]["settings"] = {
                "planner": "cem",
                "samples": oracle_cfg.samples,
                "iterations": oracle_cfg.iterations,
                "elites": oracle_cfg.elites,
                "horizon": oracle_cfg.horizon,
                "cost": "true goal distance, mean over the horizon",
                "model": "MuJoCo",
            }
    for env in envs:
        env.close()

    settings = {
        "task": task.name,
        "env_kwargs": task.env_kwargs,
        "planner": asdict(cfg.planner),
        "eval": asdict(cfg.eval),
        "checkpoint_step": model.info["step"],
        "protocol_version": PROTOCOL_VERSION,
    }
    result.update(
        planner={**asdict(cfg.planner), "action_repeat": meta["action_repeat"]},
        predictor_calls_per_decision=result.get("rollout_calls_per_decision", 0)
        * cfg.planner.horizon,
        encoder_calls_per_decision=1,
        parallel_episodes=parallel,
        device=str(device),
        device_name=_device_name(device),
        torch_version=torch.__version__,
        amp=cfg.eval.amp,
        cuda_graph=cuda_graph,
        checkpoint=str(Path(model.info["path"]).resolve()),
        checkpoint_step=model.info["step"],
        checkpoint_data_frames=model.info["data"].get("frames"),
        image_size=model.image_size,
        git_commit=git_commit(),
        settings_hash=hashlib.sha256(
            json.dumps(settings, sort_keys=True, default=str).encode()
        ).hexdigest()[:12],
        baselines=baselines,
        videos=stats.videos,
        date=time.strftime("%Y-%m-%d"),
    )
    path = run_dir / "eval.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    _report(result, path)
    return result


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
        schema_name="evaluate_schema",
        usage=USAGE,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
