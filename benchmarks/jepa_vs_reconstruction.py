"""JEPA against pixel reconstruction at matched training compute.

    python -m benchmarks.jepa_vs_reconstruction [--worlds reacher point_mass] [--budgets 3 9 27]
                                                [--episodes 20] [--threads N] [--large]
                                                [--table-only]

Both objectives (``model.objective=jepa | reconstruction``) use the same encoder, predictor and
data; the reconstruction model adds a decoder and learns from pixel error only. Each trains, per
world, at each budget of training compute in TFLOPs: ``train.steps`` is the budget divided by
the FLOPs of one training step of that model (``worldmodel.flops.training_step_flops``: 3 x
the forward pass at the preset's batch, as docs/protocol.md counts it), so the reconstruction model, whose decoder renders
``history + 3 * rollout_steps`` frames per sequence, gets fewer steps. Warmup is the preset's,
capped at a tenth of the steps. Runs go to ``<runs>/<world>-<objective>-<budget>T/``; a complete
run is reused and an interrupted one resumed, so an interrupted benchmark picks up where it
stopped.

Per run it reads, from the final diagnostics (``probe.json``), the probe R² of the
controllable state from one frame (``benchmarks.world_levers.CONTROLLABLE``) and the copy-last
error over the rollout error at 5 steps (embedding errors of the two objectives have different
scales; their ratio to copy-last does not), and plans the world's task (reacher-pose,
point_mass-goal) with ``agents.evaluate`` (the preset's planner, the random and zero floors,
no videos). Fewer than the protocol's 200 episodes is flagged ``"smoke": true``.

Compute ratio, per world and quality measure: each objective's quality is interpolated
linearly against log compute between its measured budgets; for each JEPA budget, the compute
at which the reconstruction model first reaches the JEPA's quality, divided by the JEPA's
compute (and the reverse for each reconstruction budget). Out of the measured range the ratio is
None, with the bound the range gives (``at_most``: already reached at the smallest budget;
``at_least``: not reached at the largest).

Writes ``benchmarks/results/jepa_vs_reconstruction.json`` (date, commit, machine, settings,
rows, ratios) and ``jepa_vs_reconstruction.png`` (each quality against training FLOPs). Default
budgets fit 2 CPU cores in about an hour; ``--large`` is the GPU set (preset gpu, 200 episodes).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import envs
from benchmarks._common import GENERIC, machine, run_module, write_json
from benchmarks.world_levers import CONTROLLABLE
from envs.tasks import TASKS
from worldmodel.config import Config, env_kwargs, sequence_length, task_env_overrides
from worldmodel.flops import training_step_flops
from worldmodel.model import JEPA
from worldmodel.runtime.cli import load_config
from worldmodel.runtime.device import resolve_device
from worldmodel.runtime.errors import InputError

OBJECTIVES = ("jepa", "reconstruction")
TASK_OF_WORLD = {"reacher": "reacher-pose", "point_mass": "point_mass-goal"}
"""The planning task of each world (the task's world settings are the training settings)."""
PROTOCOL_EPISODES = 200


@dataclass(frozen=True)
class Sizes:
    """A default set: the preset of models and planner, budgets in TFLOPs, planning episodes."""

    preset: str
    budgets: tuple[float, ...]
    episodes: int


CPU = Sizes("cpu", (3.0, 9.0, 27.0), 20)
"""About an hour on 2 CPU cores: reacher JEPA 38 GFLOP a step (78-704 steps), reconstruction
124 (24-218 steps), at batch 48; the point_mass models cost the same."""
LARGE = Sizes("gpu", (300.0, 1000.0, 3000.0, 10000.0), PROTOCOL_EPISODES)
"""One GPU: JEPA 0.80 TFLOP a step, reconstruction 2.6, at batch 256."""
QUALITIES = {
    "probe_r2": "probe R² of the controllable state",
    "copy_over_rollout_5": "copy-last / rollout error at 5 steps",
    "success_rate": "planning success",
}
"""Quality measures (higher is better) that the ratios and the plot compare."""
PLOTS_HINT = 'pip install "worldmodel[plots]"'


@dataclass
class Run:
    """One (world, objective, budget) training run and its evaluation."""

    world: str
    objective: str
    budget_tflops: float
    step_flops: int
    steps: int
    warmup: int
    run_dir: Path

    @property
    def train_tflops(self) -> float:
        """Training compute actually spent: steps x FLOPs per step."""
        return self.steps * self.step_flops / 1e12


# ---- the runs ---------------------------------------------------------------------------------


def train_overrides(world: str, objective: str, preset: str) -> list[str]:
    """The ``worldmodel.train`` settings of a world's model with ``objective``."""
    task = TASKS[TASK_OF_WORLD[world]]
    return [
        *task_env_overrides(task.world, task.env_kwargs),
        f"preset={preset}",
        f"model.objective={objective}",
        *GENERIC,  # the generic recipe for both: a world's own is a JEPA's only
        "data.marker_jitter=0",
    ]


def step_flops(overrides: list[str], device: str = "cpu") -> tuple[int, int]:
    """FLOPs of one training step of the model ``overrides`` describe (counted on ``device``;
    the count does not depend on it), and the preset's warmup."""
    cfg = load_config(overrides, schema=Config)
    env = envs.make(cfg.env.name, **env_kwargs(cfg.env))
    action_dim = int(env.action_space.shape[0])
    env.close()
    dev = resolve_device(device)
    model = JEPA(cfg.model, cfg.env.image_size, action_dim).to(dev)
    flops = training_step_flops(
        model,
        batch_size=cfg.train.batch_size,
        length=sequence_length(cfg),
        image_size=cfg.env.image_size,
        action_dim=action_dim,
        device=dev,
    )
    return flops, cfg.train.warmup


def plan_runs(
    worlds: list[str], budgets: list[float], preset: str, root: Path, device: str = "cpu"
) -> list[Run]:
    """Every (world, objective, budget) run, with its steps for the budget."""
    runs = []
    for world in worlds:
        for objective in OBJECTIVES:
            flops, warmup = step_flops(train_overrides(world, objective, preset), device)
            for budget in budgets:
                run_dir = root / f"{world}-{objective}-{budget:g}T"
                steps = max(1, round(budget * 1e12 / flops))
                planned = (steps, min(warmup, max(1, steps // 10)))
                steps, run_warmup = _started_with(run_dir) or planned
                runs.append(
                    Run(
                        world=world,
                        objective=objective,
                        budget_tflops=budget,
                        step_flops=flops,
                        steps=steps,
                        warmup=run_warmup,
                        run_dir=run_dir,
                    )
                )
    return runs


def _started_with(run_dir: Path) -> tuple[int, int] | None:
    """The steps and warmup a run already started in ``run_dir`` was given (its config.json),
    so that it is reused or resumed as it was planned, even where the per-step count of this
    code differs slightly from the one it was planned with; its compute (``train_tflops``) is
    then its steps times this code's count. None for a run not started yet."""
    path = run_dir / "config.json"
    if not path.exists():
        return None
    train_cfg = json.loads(path.read_text()).get("train", {})
    if "steps" not in train_cfg or "warmup" not in train_cfg:
        return None
    return int(train_cfg["steps"]), int(train_cfg["warmup"])


def train(run: Run, preset: str, device: str, threads: int) -> None:
    """Train the run (``worldmodel.train`` reuses a complete checkpoint; an interrupted one,
    without its final ``probe.json``, is resumed)."""
    ckpt = run.run_dir / "checkpoint.pt"
    resume = ckpt.exists() and not (run.run_dir / "probe.json").exists()
    args = [
        *train_overrides(run.world, run.objective, preset),
        f"train.steps={run.steps}",
        f"train.warmup={run.warmup}",
        f"run_dir={run.run_dir}",
        f"device={device}",
        *([f"train.threads={threads}"] if threads else []),
        *(["resume=true"] if resume else []),
    ]
    run_module("worldmodel.train", args, threads)


def evaluate(run: Run, preset: str, episodes: int, device: str, threads: int) -> None:
    """Plan the world's task with the run's model, unless an evaluation of this checkpoint with
    as many episodes is already there."""
    task = TASK_OF_WORLD[run.world]
    ckpt = run.run_dir / "checkpoint.pt"
    out = run.run_dir / f"eval-{task}"
    done = out / "eval.json"
    if done.exists() and done.stat().st_mtime > ckpt.stat().st_mtime:
        if json.loads(done.read_text()).get("episodes") == episodes:
            print(f"{done}: already evaluated on {episodes} episodes; reused")
            return
    args = [
        f"task={task}",
        f"checkpoint={ckpt}",
        f"preset={preset}",
        f"eval.episodes={episodes}",
        "eval.videos=0",
        "eval.baselines=[random,zero]",
        f"run_dir={out}",
        f"device={device}",
    ]
    run_module("agents.evaluate", args, threads)


# ---- the table --------------------------------------------------------------------------------


def summarize(run: Run) -> dict[str, Any] | None:
    """The run's row: compute, probe R², rollout against copy-last, planning success (None
    when the run has no final diagnostics yet)."""
    probe = run.run_dir / "probe.json"
    if not probe.exists():
        return None
    stats = json.loads(probe.read_text())
    feature = CONTROLLABLE.get(run.world, "position")
    ro, copy = stats.get("rollout_mse") or [], stats.get("copy_last_mse") or []
    h = min(5, len(ro))
    row: dict[str, Any] = {
        "world": run.world,
        "objective": run.objective,
        "budget_tflops": run.budget_tflops,
        "train_tflops": run.train_tflops,
        "step_gflops": run.step_flops / 1e9,
        "steps": run.steps,
        "run_dir": str(run.run_dir),
        "probe_feature": feature,
        "probe_r2": (stats.get("probe_r2") or {}).get(feature),
        "probe_r2_history": (stats.get("probe_r2_history") or {}).get(feature),
        "effective_rank": stats.get("effective_rank"),
        "rollout_horizon": h,
        "rollout_mse": ro[h - 1] if h else None,
        "copy_last_mse": copy[h - 1] if h else None,
        "copy_over_rollout_5": copy[h - 1] / max(ro[h - 1], 1e-12) if h else None,
        "task": TASK_OF_WORLD[run.world],
        "success_rate": None,
    }
    done = run.run_dir / f"eval-{row['task']}" / "eval.json"
    if done.exists():
        ev = json.loads(done.read_text())
        floors = ev.get("baselines") or {}
        row.update(
            success_rate=ev.get("success_rate"),
            success_ci95=ev.get("success_ci95"),
            mean_final_distance=ev.get("mean_final_distance"),
            episodes=ev.get("episodes"),
            floors={k: v.get("success_rate") for k, v in floors.items()},
        )
    return row


def compute_to_reach(points: list[tuple[float, float]], target: float) -> float | None:
    """Compute at which a quality curve first rises to ``target``: ``points`` are (compute,
    quality) pairs, interpolated linearly in log compute between neighbours in compute order.
    None when the curve does not cross ``target`` within the measured range (also when it is
    already there at its smallest compute: the crossing lies below the range)."""
    pts = sorted(points)
    if not pts or pts[0][1] >= target:
        return None  # already there at the smallest compute: the crossing lies below the range
    for (c0, q0), (c1, q1) in zip(pts, pts[1:]):
        if q0 < target <= q1:
            f = (target - q0) / (q1 - q0)
            return math.exp(math.log(c0) + f * (math.log(c1) - math.log(c0)))
    return None


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per world, quality and budget of one objective: the compute the other objective needs
    to reach that quality, as a multiple of this one's (see the module docstring)."""
    out = []
    for world in dict.fromkeys(r["world"] for r in rows):
        for quality in QUALITIES:
            curves = {
                obj: [
                    (r["train_tflops"], r[quality])
                    for r in rows
                    if r["world"] == world and r["objective"] == obj and r[quality] is not None
                ]
                for obj in OBJECTIVES
            }
            for this, other in (("jepa", "reconstruction"), ("reconstruction", "jepa")):
                theirs = curves[other]
                for compute, value in sorted(curves[this]):
                    needed = compute_to_reach(theirs, value)
                    entry: dict[str, Any] = {
                        "world": world,
                        "quality": quality,
                        "reference": this,
                        "matching": other,
                        "reference_tflops": compute,
                        "reference_quality": value,
                        "matching_tflops": needed,
                        "ratio": None if needed is None else needed / compute,
                    }
                    if needed is None and theirs:
                        low, high = min(theirs), max(theirs)
                        if low[1] >= value:
                            entry["at_most"] = low[0] / compute
                        elif max(q for _, q in theirs) < value:
                            entry["at_least"] = high[0] / compute
                    out.append(entry)
    return out


def table(rows: list[dict[str, Any]], ratio_rows: list[dict[str, Any]]) -> str:
    """The rows and the JEPA-referenced ratios, for the console."""

    def fmt(x: float | None, spec: str = ".2f") -> str:
        return "-" if x is None else format(x, spec)

    lines = [
        "| world | objective | budget TFLOP | steps | probe R² | copy/rollout 5 | success |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['world']} | {r['objective']} | {r['budget_tflops']:g} | {r['steps']} | "
            f"{fmt(r['probe_r2'])} | {fmt(r['copy_over_rollout_5'])} | "
            f"{fmt(r['success_rate'], '.0%')} |"
        )
    lines += ["", "Compute the reconstruction model needs for the JEPA's quality (x JEPA's):"]
    for e in ratio_rows:
        if e["reference"] != "jepa":
            continue
        bound = (
            f"<= {e['at_most']:.2g}x (reached at its smallest budget)"
            if "at_most" in e
            else f"> {e['at_least']:.2g}x (not reached at its largest budget)"
            if "at_least" in e
            else "out of range"
        )
        ratio = f"{e['ratio']:.2g}x" if e["ratio"] is not None else bound
        lines.append(
            f"  {e['world']} {e['quality']} at {e['reference_tflops']:.3g} TFLOP "
            f"({fmt(e['reference_quality'])}): {ratio}"
        )
    return "\n".join(lines) + "\n"


# ---- the plot ---------------------------------------------------------------------------------


def plot(rows: list[dict[str, Any]], path: Path, smoke: bool) -> Path:
    """Each quality against training FLOPs, both objectives, one row of panels per world."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError(f"plots need matplotlib, which is not installed: {PLOTS_HINT}") from None
    from worldmodel.runtime.atomic import atomic_path

    worlds = list(dict.fromkeys(r["world"] for r in rows))
    fig = Figure(figsize=(4.0 * len(QUALITIES), 3.0 * len(worlds)), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(worlds), len(QUALITIES), squeeze=False)
    for i, world in enumerate(worlds):
        for j, (quality, label) in enumerate(QUALITIES.items()):
            ax = axes[i, j]
            for objective, colour in zip(OBJECTIVES, ("tab:blue", "tab:orange")):
                pts = sorted(
                    (r["train_tflops"], r[quality])
                    for r in rows
                    if r["world"] == world and r["objective"] == objective
                    if r[quality] is not None
                )
                if pts:
                    x, y = zip(*pts)
                    ax.plot(x, y, "o-", color=colour, label=objective)
            ax.set_xscale("log")
            budgets = sorted({r["train_tflops"] for r in rows if r["world"] == world})
            ax.set_xticks(budgets, [f"{b:.3g}" for b in budgets], fontsize=7)
            ax.minorticks_off()  # the log axis's minor labels overlap at a few budgets
            if quality == "success_rate":
                ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("training TFLOPs", fontsize=8)
            ax.set_title(f"{world}: {label}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(
        "JEPA vs pixel reconstruction at matched training compute" + (" (smoke)" if smoke else ""),
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    print(f"wrote {path}")
    return path


# ---- the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worlds", nargs="+", default=list(TASK_OF_WORLD), choices=TASK_OF_WORLD)
    parser.add_argument(
        "--budgets", nargs="+", type=float, help="training budgets in TFLOPs (default: the set's)"
    )
    parser.add_argument(
        "--episodes", type=int, help=f"planning episodes per run (protocol: {PROTOCOL_EPISODES})"
    )
    parser.add_argument("--large", action="store_true", help="the GPU set: preset gpu, bigger")
    parser.add_argument("--preset", help="model and planner size preset (default: the set's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per run; 0 = torch's")
    parser.add_argument("--runs", default="runs/jepa_vs_recon", help="folder of the runs")
    parser.add_argument("--out", help="the JSON path (the PNG goes beside it)")
    parser.add_argument("--table-only", action="store_true", help="train nothing; read the runs")
    args = parser.parse_args(argv)
    base = LARGE if args.large else CPU
    preset = args.preset or base.preset
    budgets = args.budgets or list(base.budgets)
    episodes = args.episodes or base.episodes
    try:
        if min(budgets) <= 0 or episodes < 1 or args.threads < 0:
            raise InputError("--budgets must be > 0, --episodes >= 1 and --threads >= 0")
        if args.threads:
            torch.set_num_threads(args.threads)
        runs = plan_runs(args.worlds, budgets, preset, Path(args.runs), args.device)
        rows = []
        for run in runs:
            if not args.table_only:
                train(run, preset, args.device, args.threads)
                evaluate(run, preset, episodes, args.device, args.threads)
            row = summarize(run)
            if row is None:
                print(f"{run.run_dir}: no final diagnostics (probe.json); skipped")
                continue
            rows.append(row)
        ratio_rows = ratios(rows)
        smoke = episodes < PROTOCOL_EPISODES
        payload = {
            "machine": machine(),
            "settings": {
                "preset": preset,
                "budgets_tflops": budgets,
                "episodes": episodes,
                "worlds": args.worlds,
                "tasks": {w: TASK_OF_WORLD[w] for w in args.worlds},
                "flops": "worldmodel.flops.training_step_flops: 3 x the matrix products "
                "and convolutions of the forward pass, per step (docs/protocol.md)",
                "qualities": QUALITIES,
            },
            "smoke": smoke,
            "results": rows,
            "ratios": ratio_rows,
        }
        path = write_json("jepa_vs_reconstruction.json", payload, args.out)
        plot(rows, path.with_suffix(".png"), smoke)
    except (InputError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(table(rows, ratio_rows))


if __name__ == "__main__":
    main()
