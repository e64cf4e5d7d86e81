"""SAC on dm_control reacher-easy from 64x64 pixels: frozen JEPA features vs pixels vs state.

    python benchmarks/rl_representation.py --checkpoint runs/reacher-target-cpu [--steps 8000] [--seeds 3]

Each (representation, seed) is one ``python -m agents.rl`` run with the same env steps and
action repeat (the checkpoint's): env=reacher with the target drawn, i.e. dm_control
reacher-easy with its own reward; (a) ``jepa``: frozen embeddings of the checkpoint's encoder
of the last ``--frame-stack`` frames (3 by default), (b) ``pixels``: SB3's NatureCNN from
scratch on 3 stacked frames, (c) ``state``: the true state (joint sin/cos, target position,
joint velocities). The final return is the mean over ``--eval-episodes`` deterministic
episodes. Writes ``rl_representation.json``, ``.md`` and ``.png`` (training curves) into
``--out``, with the date, commit and machine; the runs' own folders go under ``--runs-dir``.

Cost measured on 2 busy CPU cores, per 1000 env steps of one run (SAC, batch 256, action repeat
5, one torch thread): pixels ~280 s (a NatureCNN update takes ~1.4 s), jepa ~10 s, state ~9 s;
each final evaluation of 10 episodes adds ~50 s. The defaults (8000 env steps, 3 seeds, 2 runs
at a time) take about an hour.

With ``--reuse`` a run whose folder already holds the result of the same command line on the
same checkpoint file (its SHA-256) is read instead of run again: ``--seeds 3 --reuse`` after
``--seeds 2`` runs seed 2 alone and pools the three into one summary. ``--first-seed F`` starts
the seeds at F, to add seeds to a series whose earlier runs are not at hand (its summary then
holds those seeds only).

With ``--reevaluate N`` each saved agent then plays N deterministic episodes (``python -m
agents.rl ... rl.evaluate=RUN``; the first are its final evaluation's, which checks the replay):
a reacher-easy episode scores near 0 or near 1000, so 10 episodes leave each seed's return
uncertain by about 140 (std ~450 / sqrt 10), as much as the seeds differ.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks._common import machine
from worldmodel.runtime.provenance import git_commit

REPO = Path(__file__).resolve().parents[1]
REPRESENTATIONS = ("pixels", "jepa", "state")  # longest first, so that parallel runs pack well


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--checkpoint",
        default="runs/reacher-target-cpu",
        help="JEPA checkpoint or run folder (trained with the target drawn)",
    )
    p.add_argument(
        "--steps", type=int, default=8000, help="env steps per run (physics control steps)"
    )
    p.add_argument(
        "--seeds", type=int, default=3, help="seeds per representation (F..F+N-1, F = --first-seed)"
    )
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        metavar="F",
        help="the first seed, to add seeds to a series that ran elsewhere (its runs not at hand)",
    )
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes of the final evaluation")
    p.add_argument(
        "--learning-starts", type=int, default=200, help="random decisions before updates"
    )
    p.add_argument("--batch-size", type=int, default=256, help="SAC minibatch")
    p.add_argument(
        "--frame-stack",
        type=int,
        default=3,
        help="jepa: the policy reads the embeddings of the last K frames (pixels see 3 frames, "
        "state 1: it holds the velocities)",
    )
    p.add_argument(
        "--trunk",
        type=int,
        default=0,
        metavar="N",
        help="jepa: a learned Linear + LayerNorm + tanh head of width N before the actor and "
        "critics (rl.trunk; 0 = none)",
    )
    p.add_argument(
        "--gradient-steps",
        type=int,
        default=1,
        metavar="N",
        help="SAC gradient steps per update, for every representation (rl.gradient_steps)",
    )
    p.add_argument(
        "--train-freq",
        type=int,
        default=1,
        metavar="N",
        help="SAC decisions between updates, for every representation (rl.train_freq)",
    )
    p.add_argument(
        "--critic-dropout",
        type=float,
        default=0.01,
        metavar="P",
        help="dropout rate in SAC's Q networks, for every representation (rl.critic_dropout; "
        "agents.rl's default, DroQ's 0.01; 0 with --no-critic-layer-norm = SB3's plain critic)",
    )
    p.add_argument(
        "--critic-layer-norm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="LayerNorm in SAC's Q networks, for every representation (rl.critic_layer_norm; "
        "on by default, as agents.rl)",
    )
    p.add_argument("--representations", default=",".join(REPRESENTATIONS), help="comma-separated")
    p.add_argument(
        "--jobs", type=int, default=2, help="runs at a time (each uses one torch thread)"
    )
    p.add_argument("--device", default="cpu", help="device of every run")
    p.add_argument("--runs-dir", default="runs/bench/rl_representation", help="folders of the runs")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="where results go")
    p.add_argument("--name", default="rl_representation", help="file name of the results")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="read a run whose folder holds the result of the same command and checkpoint file",
    )
    p.add_argument(
        "--reevaluate",
        type=int,
        default=0,
        metavar="N",
        help="then play each saved agent N deterministic episodes (the first are the final "
        "evaluation's), for a return less noisy than --eval-episodes gives",
    )
    args = p.parse_args(argv)
    if args.seeds < 1 or args.first_seed < 0:
        p.error(
            f"--seeds must be >= 1 and --first-seed >= 0, got {args.seeds} and {args.first_seed}"
        )
    if args.frame_stack < 1:
        p.error(f"--frame-stack must be >= 1, got {args.frame_stack}")
    if args.trunk < 0:
        p.error(f"--trunk must be >= 0, got {args.trunk}")
    if args.gradient_steps < 1:
        p.error(f"--gradient-steps must be >= 1, got {args.gradient_steps}")
    if args.train_freq < 1:
        p.error(f"--train-freq must be >= 1, got {args.train_freq}")
    if not 0 <= args.critic_dropout < 1:
        p.error(f"--critic-dropout is a rate in [0, 1), got {args.critic_dropout}")

    import worldmodel
    from worldmodel.data import sha256

    model = worldmodel.load(args.checkpoint, device="cpu")
    ckpt, meta = str(Path(model.info["path"]).resolve()), model.info["env"]
    ckpt_sha = sha256(Path(ckpt))
    repeat = meta["action_repeat"]
    reps = [r for r in REPRESENTATIONS if r in args.representations.split(",")]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = [(rep, seed) for rep in reps for seed in seeds]
    runs_dir, out = Path(args.runs_dir), Path(args.out)
    print(
        f"{len(runs)} runs of {args.steps} env steps (action repeat {repeat}), {args.jobs} at a time"
    )

    def run(job: tuple[str, int]) -> dict:
        rep, seed = job
        run_dir = runs_dir / f"{rep}-seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "agents.rl", "env=reacher", "env.draw_target=true",
            "env.image_size=64", "algo=sac", f"representation={rep}", f"checkpoint={ckpt}",
            f"rl.steps={args.steps}", f"rl.action_repeat={repeat}", f"rl.eval_episodes={args.eval_episodes}",
            f"rl.learning_starts={args.learning_starts}", f"rl.batch_size={args.batch_size}",
            "rl.threads=1", f"seed={seed}", f"device={args.device}", f"run_dir={run_dir.resolve()}",
            "progress=false",
        ]  # fmt: skip
        # Named only when not SB3's own (1, 1), so that earlier runs still read back.
        if args.gradient_steps != 1:
            cmd += [f"rl.gradient_steps={args.gradient_steps}"]
        if args.train_freq != 1:
            cmd += [f"rl.train_freq={args.train_freq}"]
        # Always named: runs before 2026-12-08, whose commands left them off, had SB3's plain
        # critic (then agents.rl's default) and are not read back as runs of another critic.
        layer_norm = str(args.critic_layer_norm).lower()
        cmd += [f"rl.critic_dropout={args.critic_dropout}", f"rl.critic_layer_norm={layer_norm}"]
        if rep == "jepa":  # explicit, so that a run of other settings is never read back as this
            cmd += [f"rl.frame_stack={args.frame_stack}", f"rl.trunk={args.trunk}"]
        provenance = {"command": cmd[1:], "checkpoint_sha256": ckpt_sha}
        reused = args.reuse and _done_before(run_dir, provenance)
        if not reused:
            (run_dir / "result.json").unlink(missing_ok=True)
            with open(run_dir / "log.txt", "w") as log:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            if proc.returncode:
                print(f"  {rep} seed {seed}: FAILED, see {run_dir / 'log.txt'}")
                return {"representation": rep, "seed": seed, "error": f"exit {proc.returncode}"}
            (run_dir / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
        result = json.loads((run_dir / "result.json").read_text())
        print(
            f"  {rep} seed {seed}: return {result['final_return']:.1f} ({result['wall_time_s']:.0f} s)"
            + (", read from an earlier run" if reused else "")
        )
        return {**result, "curve": str(run_dir / "curve.csv"), "reused": bool(reused)}

    def reevaluate(result: dict) -> dict:
        """The run's agent over --reevaluate episodes (read back when --reuse finds them)."""
        if "error" in result:
            return result
        rep, seed = result["representation"], result["seed"]
        run_dir = runs_dir / f"{rep}-seed{seed}"
        cmd = [sys.executable, *json.loads((run_dir / PROVENANCE).read_text())["command"]]
        cmd = [a for a in cmd if not a.startswith("rl.eval_episodes=")]
        cmd += [f"rl.eval_episodes={args.reevaluate}", f"rl.evaluate={run_dir.resolve()}"]
        file = run_dir / f"evaluation-{args.reevaluate}.json"
        if not (args.reuse and result["reused"] and _replayed(file)):
            file.unlink(missing_ok=True)
            with open(run_dir / f"log-evaluation-{args.reevaluate}.txt", "w") as log:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            if proc.returncode:
                print(f"  {rep} seed {seed}: evaluation FAILED, see {log.name}")
                return result
        again = json.loads(file.read_text())
        print(
            f"  {rep} seed {seed}: return {again['mean_return']:.1f} over {again['episodes']} "
            f"episodes (the final evaluation's {args.eval_episodes} replayed: "
            f"{again['replays_final_evaluation']})"
        )
        keep = ("episodes", "mean_return", "std_return", "returns", "replays_final_evaluation")
        kept = {k: again[k] for k in keep}
        if "reward_timing" in again:  # evaluations since 2026-12-07
            kept["reward_timing"] = again["reward_timing"]
        return {**result, "reevaluation": kept}

    start = time.time()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(run, runs))
        if args.reevaluate:
            print(f"each agent again over {args.reevaluate} episodes")
            results = list(pool.map(reevaluate, results))
    per_rep = {rep: _aggregate([r for r in results if r["representation"] == rep]) for rep in reps}
    summary = {
        "benchmark": "rl_representation",
        "task": "dm_control reacher-easy (target drawn), its own reward, 64x64 frames",
        "date": time.strftime("%Y-%m-%d"),
        "git_commit": git_commit(),
        "machine": machine(),
        "settings": {
            **vars(args),
            "action_repeat": repeat,
            "checkpoint": ckpt,
            "checkpoint_env": meta,
        },
        "total_wall_time_s": round(time.time() - start, 1),
        "results": per_rep,
        "ratio_to_state": _ratio_to_state(per_rep),
        "runs": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(_markdown(summary))
    _plot(results, out / f"{args.name}.png")
    print(_markdown(summary))
    return summary


PROVENANCE = "benchmark_run.json"
"""A finished run's command line (less the interpreter) and checkpoint SHA-256, for --reuse."""


def _done_before(run_dir: Path, provenance: dict) -> bool:
    """Whether run_dir holds a finished run of the same command on the same checkpoint file."""
    try:
        before = json.loads((run_dir / PROVENANCE).read_text())
        json.loads((run_dir / "result.json").read_text())
    except (OSError, ValueError):  # no run there, or one that did not finish
        return False
    return before == provenance


def _replayed(evaluation: Path) -> bool:
    """Whether an evaluation file is there and did not fail its replay check (one that played
    other episodes than the run's own evaluation is not read back: it is run again)."""
    try:
        return json.loads(evaluation.read_text())["replays_final_evaluation"] is not False
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _aggregate(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    returns = np.array([r["final_return"] for r in ok])
    return {
        "seeds": [r["seed"] for r in ok],
        "failed_seeds": [r["seed"] for r in runs if "error" in r],
        "final_returns": returns.tolist(),
        "mean": float(returns.mean()) if ok else None,
        "std": float(returns.std(ddof=1)) if len(ok) > 1 else None,
        "min": float(returns.min()) if ok else None,
        "max": float(returns.max()) if ok else None,
        "wall_time_s_mean": float(np.mean([r["wall_time_s"] for r in ok])) if ok else None,
        **_aggregate_reevaluation(ok),
    }


def _aggregate_reevaluation(ok: list[dict]) -> dict:
    """Over the seeds whose agent was evaluated again: the mean and spread of their returns
    over the longer evaluation, and a 95% bootstrap interval of that mean over the seeds."""
    again = [r["reevaluation"] for r in ok if "reevaluation" in r]
    if not again:
        return {}
    per_seed = np.array([a["mean_return"] for a in again])
    returns = np.concatenate([a["returns"] for a in again])
    out = {
        "reevaluation_episodes": again[0]["episodes"],
        "reevaluated_returns": per_seed.tolist(),
        "reevaluated_mean": float(per_seed.mean()),
        "reevaluated_std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None,
        "reevaluated_ci95": mean_ci95(per_seed),
        "reevaluation_replays_final": all(a["replays_final_evaluation"] for a in again),
        "episode_profile": episode_profile(returns),
    }
    if all("reward_timing" in a for a in again):  # evaluations since 2026-12-07
        timings = [t for a in again for t in a["reward_timing"]]
        out["between_timing"] = between_timing(returns, timings)
    return out


MISSED_BELOW, HELD_FROM = 50.0, 800.0
"""An episode's return (max 1000, one per env step with the fingertip in the target) below
MISSED_BELOW: the agent never reached the target, or only touched it; from HELD_FROM: it
reached it early and held it. Between: it reached it late or did not stay."""


def episode_profile(returns: np.ndarray) -> dict[str, float]:
    """Shares of episodes missed, in between and held (:data:`MISSED_BELOW`,
    :data:`HELD_FROM`): ``[N]`` returns -> three fractions summing to 1. Two agents with one
    mean return can differ here: one that reaches every target but drifts off, one that holds
    some targets and never finds the others."""
    missed, between, held = _split(returns)
    return {
        "missed": float(missed.mean()),
        "between": float(between.mean()),
        "held": float(held.mean()),
    }


def _split(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[N]`` returns -> three ``[N]`` masks: missed, in between, held."""
    returns = np.asarray(returns, dtype=float)
    missed, held = returns < MISSED_BELOW, returns >= HELD_FROM
    return missed, ~missed & ~held, held


def between_timing(returns: np.ndarray, timings: list[dict]) -> dict[str, float | None]:
    """Of the episodes in between (:func:`episode_profile`), ``[N]`` returns beside their
    ``agents.rl.train.reward_timing``: the median decision of the first reward (late
    arrivals) and the mean number of exits from the target (slipping off it), or None without
    such episodes."""
    between = [t for t, b in zip(timings, _split(returns)[1]) if b]
    firsts = [t["first"] for t in between if t["first"] is not None]
    return {
        "episodes": len(between),
        "first_median": float(np.median(firsts)) if firsts else None,
        "exits_mean": float(np.mean([t["exits"] for t in between])) if between else None,
    }


def _ratio_to_state(results: dict[str, dict]) -> dict[str, dict]:
    """Each representation's mean return over state's (the RL target is 80% of state), on the
    longer evaluation's returns where both have them, with a 95% bootstrap interval (the two
    sides' seeds resampled apart, 10,000 draws)."""
    state = results.get("state", {})
    out: dict[str, dict] = {}
    for rep, r in results.items():
        if rep == "state" or r.get("mean") is None or state.get("mean") is None:
            continue
        key = (
            "reevaluated_returns"
            if r.get("reevaluated_returns") and state.get("reevaluated_returns")
            else "final_returns"
        )
        a, b = np.array(r[key]), np.array(state[key])
        out[rep] = {"ratio": float(a.mean() / b.mean()), "ci95": ratio_ci95(a, b), "of": key}
    return out


def mean_ci95(x: np.ndarray) -> list[float]:
    """``[S]`` per-seed returns -> the 95% bootstrap interval of their mean (10,000 draws from a
    generator of seed 0, so one series always reads the same)."""
    boot = np.random.default_rng(0).choice(x, (10_000, len(x))).mean(1)
    return [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]


def ratio_ci95(a: np.ndarray, b: np.ndarray) -> list[float]:
    """``[Sa]``, ``[Sb]`` per-seed returns -> the 95% bootstrap interval of mean(a) / mean(b),
    the two sides' seeds resampled apart (10,000 draws, one generator of seed 0)."""
    rng = np.random.default_rng(0)
    boot = rng.choice(a, (10_000, len(a))).mean(1) / rng.choice(b, (10_000, len(b))).mean(1)
    return [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]


def _markdown(s: dict) -> str:
    st = s["settings"]
    lines = [
        "# SAC on reacher-easy: frozen JEPA features vs pixels vs state",
        "",
        f"{s['task']}; {st['steps']} env steps per run (action repeat {st['action_repeat']}), "
        f"final return = mean over {st['eval_episodes']} deterministic episodes (max 1000).",
        f"Date {s['date']}, commit {s['git_commit']}, {s['machine']['cpu']} ({s['machine']['cores']} cores)"
        f"{', ' + s['machine']['gpu'] if s['machine'].get('gpu') else ''}, device {st['device']}.",
        f"Checkpoint {st['checkpoint']} (trained with draw_target="
        f"{st['checkpoint_env']['kwargs'].get('draw_target')}, {st['checkpoint_env']['image_size']}px); "
        f"the jepa policy reads the embeddings of its last {st['frame_stack']} frames"
        + (f" through a learned trunk of width {st['trunk']}" if st.get("trunk") else "")
        + (
            f"; SAC updates with rl.gradient_steps={st['gradient_steps']}, "
            f"rl.train_freq={st['train_freq']}."
            if (st.get("gradient_steps", 1), st.get("train_freq", 1)) != (1, 1)
            else "."
        )
        + _critic_words(st),
        "",
        "| representation | final return, mean ± std (seeds) | min – max | wall time per run |",
        "|---|---|---|---|",
    ]
    for rep, r in s["results"].items():
        if r["mean"] is None:
            lines.append(f"| {rep} | all runs failed | | |")
            continue
        std = f" ± {r['std']:.1f}" if r["std"] is not None else ""
        lines.append(
            f"| {rep} | {r['mean']:.1f}{std} ({len(r['seeds'])}) | {r['min']:.1f} – {r['max']:.1f} "
            f"| {r['wall_time_s_mean']:.0f} s |"
        )
    again = {rep: r for rep, r in s["results"].items() if r.get("reevaluated_returns")}
    if again:
        n = next(iter(again.values()))["reevaluation_episodes"]
        lines += [
            "",
            f"Each seed's agent again over {n} deterministic episodes (the first "
            f"{st['eval_episodes']} are its final evaluation's), a less noisy return per seed:",
            "",
            "| representation | return per seed over "
            f"{n} episodes, mean ± std (seeds) | 95% bootstrap interval of the mean | per seed |",
            "|---|---|---|---|",
        ]
        for rep, r in again.items():
            std = f" ± {r['reevaluated_std']:.1f}" if r["reevaluated_std"] is not None else ""
            lo, hi = r["reevaluated_ci95"]
            lines.append(
                f"| {rep} | {r['reevaluated_mean']:.1f}{std} ({len(r['reevaluated_returns'])}) "
                f"| {lo:.0f} – {hi:.0f} | {', '.join(f'{x:.0f}' for x in r['reevaluated_returns'])} |"
            )
        lines += [
            "",
            f"Their episodes: missed (return below {MISSED_BELOW:.0f}), in between, held "
            f"(from {HELD_FROM:.0f}; the fingertip in the target for most of the episode):",
            "",
            "| representation | missed | in between | held |",
            "|---|---|---|---|",
        ]
        for rep, r in again.items():
            prof = r["episode_profile"]
            lines.append(
                f"| {rep} | {prof['missed']:.0%} | {prof['between']:.0%} | {prof['held']:.0%} |"
            )
        timed = {rep: r["between_timing"] for rep, r in again.items() if "between_timing" in r}
        if timed:
            lines += [
                "",
                "The episodes in between: the decision of the first reward (median; a late "
                "arrival) and the exits from the target (mean; slipping off it):",
                "",
                "| representation | episodes | first reward | exits |",
                "|---|---|---|---|",
            ]
            for rep, t in timed.items():
                first = "-" if t["first_median"] is None else f"{t['first_median']:.0f}"
                exits = "-" if t["exits_mean"] is None else f"{t['exits_mean']:.1f}"
                lines.append(f"| {rep} | {t['episodes']} | {first} | {exits} |")
    for rep, r in s.get("ratio_to_state", {}).items():
        which = "the longer evaluation's" if r["of"] == "reevaluated_returns" else "final"
        lines += [
            "",
            f"{rep} / state, mean {which} returns: **{r['ratio']:.0%}** (95% bootstrap interval "
            f"{r['ci95'][0]:.0%}-{r['ci95'][1]:.0%}).",
        ]
    return "\n".join(lines) + "\n"


def _critic_words(st: dict) -> str:
    """How SAC's Q networks were regularised, as a sentence."""
    parts = [f"dropout {st['critic_dropout']}"] if st.get("critic_dropout") else []
    parts += ["layer norm"] if st.get("critic_layer_norm") else []
    if not parts:
        return " SAC's Q networks are SB3's plain MLPs."
    return f" SAC's Q networks have {' and '.join(parts)} after each hidden layer."


def _plot(results: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = dict(zip(REPRESENTATIONS, ("C0", "C1", "C2")))
    for r in results:
        if "error" in r:
            continue
        with open(r["curve"]) as f:
            rows = [
                (int(row["env_steps"]), float(row["episode_return"])) for row in csv.DictReader(f)
            ]
        if rows:
            steps, ret = np.array(rows).T
            label = r["representation"] if r["seed"] == 0 else None
            ax.plot(steps, ret, "-", color=colors[r["representation"]], alpha=0.7, label=label)
    ax.set(xlabel="env steps", ylabel="training episode return", title="SAC on reacher-easy")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
