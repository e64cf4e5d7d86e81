"""Scaling sweeps: how the world model's quality grows with data, parameters and compute.

    python -m benchmarks.scaling [--world reacher] [--grid cpu|gpu|debug] [--steps N] [--threads N]
                                 [--plan-episodes 0] [--planner cem] [--task NAME]
                                 [--feature NAME]
                                 [--runs-dir runs/scaling] [--out PATH] [key=value ...]

Trains a grid of models (``model.channels`` and ``model.hidden`` scaled together;
``model.embed_dim`` stays the preset's, so that every probe reads an embedding of the same size)
times data sizes (``data.train_episodes``: the first N training episodes of the world's data
set; the held-out episodes are the same for every run). Each grid point is a real
``python -m worldmodel.train`` run into ``<runs-dir>/<world>-c<channels>h<hidden>-ep<N>-s<steps>``;
the ``key=value`` settings go to every run (``preset=debug``, ``device=cuda``, ...), and
``preset=`` and ``device=`` to the planning runs as well. A run whose folder holds its
diagnostics and this sweep's record of the same settings is reused, an interrupted one resumed:
a sweep stopped half-way continues where it stopped.

- Data: a run on N of the set's training episodes trains ``steps x N / all`` steps, so every run
  makes the same number of passes over its own data (the scaling-law convention that a run's
  data is what it trains on: compute ~ model FLOPs per frame x frames). ``frames`` is the frames
  of its episodes (episode length + 1 each). Warmup is a tenth of the steps.
- Compute: the FLOPs of one training step (3 x the forward pass's matrix products and
  convolutions, as docs/protocol.md defines it, see :mod:`worldmodel.flops`) counted on the
  model each run builds, times its steps. ``parameters`` counts every trained weight (encoder, predictor, inverse dynamics).
- Quality (the JEPA loss is not comparable between models, each having its own embedding
  space): ``probe_error`` = 1 - the ridge-probe R² of the controllable state from one frame on
  the held-out episodes (``joint_sincos`` for reacher), clipped below at ``FLOOR`` for the log
  fit; ``rollout_error`` = open-loop latent rollout MSE over the copy-last-embedding MSE at the
  longest horizon the diagnostics reach (5 steps by default; below 1 = better than copying);
  with ``--plan-episodes N``, ``plan_failure`` = 1 - success rate on the world's goal task
  (reacher-pose for reacher; 200 episodes is the protocol's size; not run by default: see
  ``PLANNING_NOTE``), clipped below at half an episode.
- Fits: error = a X^-alpha by least squares in log-log space, with the fit's R² (in log space)
  and a 95% t-interval on alpha from the slope's standard error. X = training FLOPs over every
  run; X = frames over the runs of the largest model; X = parameters over the runs on the most
  data (each axis where the other is least limiting, as Kaplan et al. 2020 fit L(D) and L(N)).

Writes ``benchmarks/results/scaling.json`` (``runs``, ``fits``, the grid and settings, date,
commit, machine) and ``scaling.png`` beside it (log-log: every run in grey, a fit's runs in
colour, its line). Grids (``--grid``, default: the preset's): ``cpu`` 4 models x 4 data sizes,
about 20-25 minutes on 2 CPU cores; ``gpu`` 4 x 5 with ten times the samples per run, for
``preset=gpu device=cuda``, sized for one 10-minute call on an H100/H200: its 20 runs make 5812
steps per model size, and the largest model (the gpu preset's) steps in 18.3 ms there
(``benchmarks/results/train_speed_cuda.json``), so training takes at most 7.1 minutes even if
every model were that slow (the sweep as a whole is not timed yet; a cut-off sweep continues where
it stopped); ``debug`` 2 x 2 in seconds (tests). ``--steps N`` replaces a grid's steps (recorded
in the JSON's ``grid``; a run's folder names its steps, so runs of other lengths are not reused).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS, machine, run_module, write_json
from benchmarks.world_levers import CONTROLLABLE
from worldmodel.config import sequence_length
from worldmodel.runtime.errors import InputError

FLOOR = 1e-3
"""Smallest probe error kept for the log fit (an R² of 0.999 or more counts as 0.999)."""
MEASURES = {
    "probe_error": "1 - probe R² of the controllable state from one frame (held-out episodes)",
    "rollout_error": "open-loop rollout MSE / copy-last MSE at the longest diagnosed horizon",
    "plan_failure": "1 - planning success rate on the world's goal task",
}
AXES = {"compute": "training_flops", "frames": "frames", "parameters": "parameters"}
"""Each fit's X and the run field that holds it."""
SET_BY_SWEEP = (
    "env",
    "model.channels",
    "model.hidden",
    "data.train_episodes",
    "train.steps",
    "train.warmup",
    "train.eval_every",
    "train.threads",
    "run_dir",
    "resume",
)
"""Settings the sweep sets itself (``--world``, ``--threads`` and the grid)."""
PLANNING_NOTE = (
    "not run (--plan-episodes 0): on 2 CPU cores 200 reacher-pose episodes take about 5 minutes "
    "per model with the protocol's CEM (155 ms a decision), some 1.5 hours for the cpu grid, and "
    "about 1.5 minutes with --planner cem_fast (30 ms)"
)
PLOTS_HINT = 'pip install "worldmodel[plots]"'


@dataclass(frozen=True)
class Grid:
    """Model sizes times data sizes, and the training length of a run on all the data."""

    models: tuple[tuple[int, int], ...]
    """(model.channels, model.hidden) of each model size, smallest first."""
    fractions: tuple[float, ...]
    """Shares of the data set's training episodes, smallest first."""
    steps: int
    """Optimiser steps of a run on every training episode; a share f of them trains f x steps."""


GRIDS = {
    "debug": Grid(models=((4, 16), (8, 32)), fractions=(1 / 3, 1.0), steps=6),
    "cpu": Grid(
        models=((4, 64), (8, 128), (16, 192), (24, 256)),
        fractions=(1 / 8, 1 / 4, 1 / 2, 1.0),
        steps=1500,
    ),
    "gpu": Grid(
        models=((8, 64), (16, 128), (32, 256), (64, 512)),
        fractions=(1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0),
        steps=3000,
    ),
}


@dataclass
class Plan:
    """One grid point: the settings of its ``worldmodel.train`` run and its counted compute."""

    name: str
    run_dir: Path
    settings: list[str]
    """The run's identity: world, the user's settings (runtime ones left out) and the grid's."""
    channels: int
    hidden: int
    episodes: int
    steps: int
    parameters: int = 0
    flops_per_step: int = 0


# ---- fits -------------------------------------------------------------------------------------


def t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile (p >= 0.5) of Student's t with ``dof`` degrees of freedom: its
    density integrated by Simpson's rule, then bisection (numpy only: scipy is no dependency)."""
    if not 0.5 <= p < 1 or dof < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and dof >= 1, got p={p}, dof={dof}")
    log_c = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def cdf(t: float, intervals: int = 2048) -> float:
        u = np.linspace(0.0, t, intervals + 1)
        f = np.exp(log_c - (dof + 1) / 2 * np.log1p(u**2 / dof))
        area = (f[0] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum() + f[-1]) * t / intervals / 3
        return 0.5 + float(area)

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def fit_power_law(x: Any, y: Any) -> dict[str, Any]:
    """Fit y = a x^-alpha by least squares of log y on log x (x, y [N], positive).

    Returns ``alpha``, ``a``, ``r2`` (of the fit in log space), ``alpha_ci95`` (a t-interval
    from the slope's standard error; None with fewer than 3 points) and ``points``.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("a power-law fit needs positive x and y")
    lx, ly = np.log(x), np.log(y)
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError("a power-law fit needs at least two distinct x")
    dx = lx - lx.mean()
    sxx = float((dx**2).sum())
    slope = float((dx * (ly - ly.mean())).sum() / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    ss_res = float(((ly - intercept - slope * lx) ** 2).sum())
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    ci = None
    if lx.size > 2:
        half = t_quantile(0.975, lx.size - 2) * math.sqrt(ss_res / (lx.size - 2) / sxx)
        ci = [-slope - half, -slope + half]
    return {
        "alpha": -slope,
        "a": math.exp(intercept),
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        "alpha_ci95": ci,
        "points": int(lx.size),
    }


def fit_runs(runs: list[dict]) -> dict[str, dict[str, dict]]:
    """Every measure against every axis (see the module docstring for which runs each uses)."""
    fits: dict[str, dict[str, dict]] = {}
    for measure in MEASURES:
        have = [r for r in runs if r.get(measure) is not None]
        if not have:
            continue
        fits[measure] = {}
        largest_model = max(r["parameters"] for r in have)
        most_data = max(r["frames"] for r in have)
        chosen = {
            "compute": (have, "every run"),
            "frames": (
                [r for r in have if r["parameters"] == largest_model],
                f"the runs of the largest model ({largest_model} parameters)",
            ),
            "parameters": (
                [r for r in have if r["frames"] == most_data],
                f"the runs on the most data ({most_data} frames)",
            ),
        }
        for axis, (subset, which) in chosen.items():
            x = [r[AXES[axis]] for r in subset]
            try:
                fit = fit_power_law(x, [r[measure] for r in subset])
            except ValueError as e:
                fit = {"skipped": str(e)}
            fits[measure][axis] = {**fit, "fit_on": which, "runs": [r["name"] for r in subset]}
    return fits


# ---- the grid ---------------------------------------------------------------------------------


def grid_plans(
    grid: Grid, world_key: str, settings: list[str], train_episodes: int, runs_dir: Path
) -> list[Plan]:
    """The runs of ``grid`` on a data set of ``train_episodes`` training episodes."""
    sizes = sorted({max(1, round(f * train_episodes)) for f in grid.fractions})
    plans = []
    for channels, hidden in grid.models:
        for episodes in sizes:
            steps = max(1, round(grid.steps * episodes / train_episodes))
            name = f"{world_key}-c{channels}h{hidden}-ep{episodes}-s{steps}"
            own = [
                f"model.channels={channels}",
                f"model.hidden={hidden}",
                f"data.train_episodes={episodes}",
                f"train.steps={steps}",
                f"train.warmup={steps // 10}",
            ]
            plans.append(
                Plan(name, runs_dir / name, [*settings, *own], channels, hidden, episodes, steps)
            )
    return plans


def count_compute(plans: list[Plan], cfg: Any, action_dim: int) -> None:
    """Each model size's parameters and FLOPs per training step, counted on its ``JEPA`` built
    on the meta device (shapes only: the count is the same on any device, and instant)."""
    from worldmodel.flops import parameters, training_step_flops
    from worldmodel.model import JEPA

    counted: dict[tuple[int, int], tuple[int, int]] = {}
    for plan in plans:
        key = (plan.channels, plan.hidden)
        if key not in counted:
            model_cfg = dataclasses.replace(cfg.model, channels=plan.channels, hidden=plan.hidden)
            model = JEPA(model_cfg, cfg.env.image_size, action_dim)
            n = parameters(model)
            flops = training_step_flops(
                model.to("meta"),
                batch_size=cfg.train.batch_size,
                length=sequence_length(cfg),
                image_size=cfg.env.image_size,
                action_dim=action_dim,
                device="meta",
            )
            counted[key] = (n, flops)
        plan.parameters, plan.flops_per_step = counted[key]


def train_run(plan: Plan, runtime: list[str], threads: int) -> dict:
    """Train (or resume, or reuse) one grid point; returns the sweep's record of it."""
    record_path = plan.run_dir / "scaling_run.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    done = (plan.run_dir / "probe.json").exists()
    if done and record is not None and record["settings"] == plan.settings:
        print(f"{plan.run_dir}: complete, reused")
        return record
    resume = ["resume=true"] if (plan.run_dir / "checkpoint.pt").exists() and not done else []
    args = [
        *plan.settings,
        *runtime,
        f"train.threads={threads}",
        f"train.eval_every={plan.steps}",  # diagnostics once, at the end
        f"run_dir={plan.run_dir}",
        *resume,
    ]
    started = time.perf_counter()
    proc = run_module("worldmodel.train", args, threads, check=False)
    if proc.returncode != 0:
        print(
            f"error: worldmodel.train stopped with status {proc.returncode} for {plan.run_dir} "
            f"(its message is above); the same command continues the sweep from this run",
            file=sys.stderr,
        )
        raise SystemExit(proc.returncode)
    # A run trained before this sweep recorded it keeps its old wall time, if any.
    wall = (record or {}).get("wall_s") if done else round(time.perf_counter() - started, 1)
    record = {
        "settings": plan.settings,
        "wall_s": wall,
        "threads": threads,
        "resumed": bool(resume),
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_run(plan: Plan, record: dict, feature: str, device: str, cfg: Any) -> dict:
    """One run's row: its size, compute, wall time and quality (from probe.json and the
    checkpoint's record of the data it trained on)."""
    from worldmodel import checkpoint as ckpt

    stats = json.loads((plan.run_dir / "probe.json").read_text())
    r2 = stats.get("probe_r2") or {}
    if feature not in r2:
        raise InputError(
            f"{plan.run_dir}/probe.json has no probe of {feature!r} (it has {sorted(r2)}); "
            f"pass --feature with one of them"
        )
    data = ckpt.read(plan.run_dir / "checkpoint.pt")["data"]
    ro, copy = stats.get("rollout_mse") or [], stats.get("copy_last_mse") or []
    batch, length = cfg.train.batch_size, sequence_length(cfg)
    return {
        "name": plan.name,
        "run_dir": str(plan.run_dir),
        "channels": plan.channels,
        "hidden": plan.hidden,
        "embed_dim": cfg.model.embed_dim,
        "train_episodes": data["train_episodes"],
        "frames": data["train_frames"],
        "steps": plan.steps,
        "frames_seen": plan.steps * batch * length,
        "parameters": plan.parameters,
        "flops_per_step": plan.flops_per_step,
        "training_flops": plan.flops_per_step * plan.steps,
        "wall_s": record["wall_s"],
        "resumed": record["resumed"],
        "device": device,
        "threads": record["threads"],
        "probe_r2": r2[feature],
        "probe_error": max(1 - r2[feature], FLOOR),
        "probe_error_clipped": 1 - r2[feature] < FLOOR,
        "rollout_error": ro[-1] / copy[-1] if ro and copy and copy[-1] > 0 else None,
        "rollout_horizon": len(ro),
        "effective_rank": stats.get("effective_rank"),
        "collapse_warning": stats.get("collapse_warning"),
    }


def plan_run(run: dict, task: str, episodes: int, shared: list[str], planner: str = "cem") -> None:
    """Planning success of one run on ``task`` with ``planner`` (a configs/planner preset;
    ``agents.evaluate``, no baselines, no videos), added to its row; an evaluation already in
    the run folder is reused."""
    suffix = "" if planner == "cem" else f"-{planner}"
    out = Path(run["run_dir"]) / f"plan-{task}-{episodes}{suffix}"
    if not (out / "eval.json").exists():
        args = [
            f"task={task}",
            f"planner={planner}",
            f"checkpoint={Path(run['run_dir']) / 'checkpoint.pt'}",
            f"eval.episodes={episodes}",
            "eval.baselines=[]",
            "eval.videos=0",
            f"run_dir={out}",
            *shared,
        ]
        proc = run_module("agents.evaluate", args, check=False)
        if proc.returncode != 0:
            print(f"error: agents.evaluate failed for {run['run_dir']}", file=sys.stderr)
            raise SystemExit(proc.returncode)
    result = json.loads((out / "eval.json").read_text())
    run["plan_success"] = result["success_rate"]
    run["plan_success_ci95"] = result["success_ci95"]
    run["plan_failure"] = max(1 - result["success_rate"], 0.5 / result["episodes"])


def goal_task(key: str) -> str | None:
    """The first docs/protocol.md task judged by success that plays the world ``key``."""
    from envs.tasks import TASKS
    from worldmodel.config import world_key

    for task in TASKS.values():
        if task.metric == "success" and world_key(task.world, task.env_kwargs) == key:
            return task.name
    return None


# ---- the plot ---------------------------------------------------------------------------------


def plot(payload: dict, path: Path) -> Path:
    """scaling.png: a row per measure, a column per axis, log-log; every run in grey, the fit's
    runs in colour and its line."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        raise InputError(f"plots need matplotlib, which is not installed: {PLOTS_HINT}") from None
    runs, fits = payload["runs"], payload["fits"]
    fig = Figure(figsize=(4.2 * len(AXES), 3.4 * len(fits)), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(1, len(fits)), len(AXES), squeeze=False)
    for row, (measure, by_axis) in enumerate(fits.items()):
        for col, (axis, key) in enumerate(AXES.items()):
            ax, fit = axes[row, col], by_axis[axis]
            have = [r for r in runs if r.get(measure) is not None]
            ax.scatter([r[key] for r in have], [r[measure] for r in have], color="0.75", s=14)
            used = [r for r in have if r["name"] in fit["runs"]]
            x = np.array([r[key] for r in used], np.float64)
            ax.scatter(x, [r[measure] for r in used], color="tab:blue", s=18)
            if "alpha" in fit:
                line = np.geomspace(x.min(), x.max(), 50)
                ax.plot(line, fit["a"] * line ** -fit["alpha"], color="tab:red")
                ci = fit["alpha_ci95"]
                interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
                title = f"alpha {fit['alpha']:.2f}{interval}, R² {fit['r2']:.2f}"
            else:
                title = f"no fit: {fit['skipped']}"
            ax.set_xscale("log")
            ax.set_yscale("log")
            for which in (ax.xaxis, ax.yaxis):  # labels at 1, 2, 5 x 10^k: short axes too
                which.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                which.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
                which.set_minor_formatter(NullFormatter())
            ax.tick_params(labelsize=7)
            ax.set_xlabel({"compute": "training FLOPs"}.get(axis, axis), fontsize=8)
            ax.set_ylabel(measure, fontsize=8)
            ax.set_title(title, fontsize=8)
    fig.suptitle(f"scaling on {payload['world']} ({len(runs)} runs)", fontsize=10)
    from worldmodel.runtime.atomic import atomic_path

    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    print(f"wrote {path}")
    return path


# ---- the command ------------------------------------------------------------------------------


def sweep(args: argparse.Namespace) -> dict:
    """Train the grid, measure it, fit it; returns the JSON payload."""
    from worldmodel.collect import collect
    from worldmodel.config import WORLDS, Config, env_key
    from worldmodel.data import EpisodeDataset
    from worldmodel.runtime.cli import load_config
    from worldmodel.runtime.device import resolve_device
    from worldmodel.train import RUNTIME

    if args.world not in WORLDS:
        raise InputError(f"--world {args.world!r} is unknown; choose one of {', '.join(WORLDS)}")
    for item in args.settings:
        key = item.split("=")[0].lstrip("+~")
        if "=" not in item:
            raise InputError(f"cannot read {item!r}: settings are key=value, e.g. preset=debug")
        if key in SET_BY_SWEEP:
            raise InputError(
                f"{key} is set by the sweep (--world, --threads, the grid); leave it out"
            )
    if args.threads < 1 or args.plan_episodes < 0:
        raise InputError("--threads must be >= 1 and --plan-episodes >= 0")
    started = time.perf_counter()
    settings = [f"env={args.world}", *args.settings]
    cfg = load_config(settings, schema=Config, name="worldmodel.train")
    grid_name = args.grid or cfg.preset
    grid = GRIDS[grid_name]
    if args.steps is not None:
        if args.steps < 1:
            raise InputError(f"--steps must be at least 1, got {args.steps}")
        grid = dataclasses.replace(grid, steps=args.steps)
    key = env_key(cfg.env)
    feature = args.feature or CONTROLLABLE.get(args.world, "qpos")
    task = args.task or goal_task(key)
    if args.plan_episodes and task is None:
        raise InputError(f"no docs/protocol.md task judged by success plays {key}; pass --task")

    dataset = EpisodeDataset(collect(cfg), verify=False)
    train_eps, _ = dataset.split(cfg.data.val_fraction)
    action_dim = int(dataset.manifest["action_dim"])
    runtime = [s for s in settings if s.split("=")[0].lstrip("+~") in RUNTIME]
    identity = [s for s in settings if s not in runtime]
    plans = grid_plans(grid, key, identity, len(train_eps), Path(args.runs_dir))
    count_compute(plans, cfg, action_dim)
    total = [p.flops_per_step * p.steps for p in plans]
    print(
        f"{len(plans)} runs on {key}: {len(grid.models)} models x "
        f"{len(plans) // len(grid.models)} data sizes of {len(train_eps)} training episodes; "
        f"training compute {min(total):.3g} to {max(total):.3g} FLOPs "
        f"({max(total) / min(total):.0f}x)"
    )
    device = str(resolve_device(cfg.device))
    runs = [read_run(p, train_run(p, runtime, args.threads), feature, device, cfg) for p in plans]
    shared = [s for s in settings if s.split("=")[0] in ("preset", "device")]
    if args.plan_episodes and task is not None:
        for run in runs:
            plan_run(run, task, args.plan_episodes, shared, args.planner)
    planning = {"task": task, "episodes": args.plan_episodes, "planner": args.planner}
    if not args.plan_episodes:
        planning["note"] = PLANNING_NOTE
    return {
        "world": key,
        "feature": feature,
        "grid": {"name": grid_name, **dataclasses.asdict(grid)},
        "compute_span": max(total) / min(total),
        "settings": {
            "overrides": args.settings,
            "batch_size": cfg.train.batch_size,
            "sequence_length": sequence_length(cfg),
            "data_set": str(dataset.root),
            "training_episodes_in_set": len(train_eps),
            "measures": dict(MEASURES),
            "floor": FLOOR,
            "flops": "3 x the matrix products and convolutions of one forward pass "
            "(worldmodel.flops.training_step_flops, docs/protocol.md) x steps",
            "fit": "least squares of log error on log X; alpha_ci95 is a 95% t-interval",
        },
        "planning": planning,
        "runs": runs,
        "fits": fit_runs(runs),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }


def summary(payload: dict) -> str:
    """The fits, one line each."""
    lines = []
    for measure, by_axis in payload["fits"].items():
        for axis, fit in by_axis.items():
            if "alpha" in fit:
                ci = fit["alpha_ci95"]
                interval = f" (95% {ci[0]:.2f} to {ci[1]:.2f})" if ci else ""
                lines.append(
                    f"{measure} = a {axis}^-alpha: alpha {fit['alpha']:.3f}{interval}, "
                    f"R² {fit['r2']:.2f}, {fit['points']} runs"
                )
            else:
                lines.append(f"{measure} ~ {axis}: no fit ({fit['skipped']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="*", help="worldmodel.train settings for every run")
    parser.add_argument("--world", default="reacher")
    parser.add_argument("--grid", choices=list(GRIDS), help="default: the preset's")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--steps", type=int, help="steps of a run on all the data (default: the grid's)"
    )
    parser.add_argument("--plan-episodes", type=int, default=0)
    parser.add_argument(
        "--planner", default="cem", help="planner preset for --plan-episodes (cem, cem_fast, ...)"
    )
    parser.add_argument("--task", help="planning task; default: the world's goal task")
    parser.add_argument("--feature", help="probe feature; default: the world's controllable state")
    parser.add_argument("--runs-dir", default=str(Path("runs") / "scaling"))
    parser.add_argument("--out", help=f"JSON path (the PNG beside it); default {RESULTS}")
    args = parser.parse_args(argv)
    try:
        payload = sweep(args)
        path = write_json("scaling.json", payload, args.out)
        try:
            plot(payload, path.with_suffix(".png"))
        except InputError as e:  # matplotlib is an extra: the JSON stands without the picture
            print(f"skipped scaling.png: {e}")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(
            "interrupted: finished runs are kept; the same command continues the sweep",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    print(summary(payload))


if __name__ == "__main__":
    main()
