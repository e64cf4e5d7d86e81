"""Plan quality against decision time for the planner's speed levers, on one model and task.

    python -m benchmarks.planner_levers [--checkpoint runs/reacher-cpu] [--task reacher-pose]
                                        [--levers reference early-stop ...] [--episodes 200]
                                        [--timing-episodes 20] [--phase all|success|timing]
                                        [--threads 2] [--table-only]

Each lever is a set of ``planner.*`` overrides of the protocol's reference CEM (300 samples x 30
iterations x horizon 5, 30 elites). For each lever the benchmark runs ``agents.evaluate`` twice:

- **success**: ``--episodes`` episodes (the protocol's 200), baselines off, into
  ``runs/planner_levers/<task>-<lever>``. Success does not depend on the machine's load, so
  these runs may share the cores with other jobs (``--threads 1``).
- **timing**: ``--timing-episodes`` episodes of the same list into ``...-timing``, one lever after
  the other, meant for an otherwise idle machine: its median decision latency is the row's time.
  The load average before each timing run is stored with it; a load above the core count marks
  the time as not a speed figure.

Early stop changes the number of iterations from decision to decision, so its time is measured
on real episodes, not on a synthetic history. Writes ``benchmarks/results/planner_levers.json``
and ``planner_levers.md`` (date, commit, machine), one row per lever: success and its 95%
interval, the timing run's median and p95 decision latency, and the 200-episode run's median
(under whatever load it met).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks._common import RESULTS, machine, run_module, write_json
from worldmodel.runtime.errors import InputError

LEVERS: dict[str, list[str]] = {
    "reference": [],
    "early-stop": ["planner.early_stop=0.01"],
    "iterations-15": ["planner.iterations=15"],
    "elite-reuse-15": ["planner.iterations=15", "planner.elite_reuse=0.5"],
    "elite-reuse-10": ["planner.iterations=10", "planner.elite_reuse=0.5"],
    "samples-100": ["planner.samples=100"],
    "elite-reuse-5": ["planner.iterations=5", "planner.elite_reuse=0.5"],
    "elite-reuse-10-stop": [
        "planner.iterations=10",
        "planner.elite_reuse=0.5",
        "planner.early_stop=0.01",
    ],
    "samples-100-iterations-10": ["planner.samples=100", "planner.iterations=10"],
    "samples-100-reuse-10": [
        "planner.samples=100",
        "planner.iterations=10",
        "planner.elite_reuse=0.5",
    ],
}
"""Lever name -> planner overrides of the reference row (cem, protocol settings)."""

RUNS = Path("runs") / "planner_levers"


def run_dir(args: argparse.Namespace, lever: str, timing: bool) -> Path:
    return Path(args.runs) / f"{args.task}-{lever}{'-timing' if timing else ''}"


def evaluate(args: argparse.Namespace, lever: str, timing: bool) -> dict:
    """Run (or reuse) one agents.evaluate run of ``lever``; returns its eval.json."""
    out = run_dir(args, lever, timing)
    episodes = args.timing_episodes if timing else args.episodes
    path = out / "eval.json"
    if path.exists():
        done = json.loads(path.read_text())
        if done.get("episodes") == episodes and done.get("agent_played"):
            return done
    load = os.getloadavg()[0]
    settings = [
        f"task={args.task}",
        f"checkpoint={args.checkpoint}",
        "planner=cem",
        *LEVERS[lever],
        f"eval.episodes={episodes}",
        "eval.baselines=[]",
        "eval.videos=0",
        f"run_dir={out}",
        f"progress={'true' if sys.stderr.isatty() else 'false'}",
    ]
    run_module("agents.evaluate", settings, args.threads)
    result = json.loads(path.read_text())
    result["load_before"] = load
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def row(args: argparse.Namespace, lever: str) -> dict | None:
    """The lever's row from the eval.json files present (None if its success run is missing)."""
    success_path = run_dir(args, lever, False) / "eval.json"
    if not success_path.exists():
        return None
    s = json.loads(success_path.read_text())
    timing_path = run_dir(args, lever, True) / "eval.json"
    t = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    cores = os.cpu_count() or 1
    return {
        "lever": lever,
        "overrides": LEVERS[lever],
        "planner": {k: s["planner"][k] for k in ("samples", "iterations", "horizon", "elites")}
        | {k: s["planner"].get(k) for k in ("elite_reuse", "early_stop", "early_stop_window")},
        "episodes": s["episodes"],
        "smoke": s["smoke"],
        "success_rate": s["success_rate"],
        "success_ci95": s["success_ci95"],
        "steps_to_success_mean": s.get("steps_to_success_mean"),
        "plan_ms_median": t.get("plan_ms_median"),
        "plan_ms_p95": t.get("plan_ms_p95"),
        "timing_episodes": t.get("episodes"),
        "timing_load_before": t.get("load_before"),
        "timing_is_speed_figure": bool(t) and t.get("load_before", 99) < cores,
        "plan_ms_median_success_run": s.get("plan_ms_median"),
        "rollout_calls_per_decision": t.get("rollout_calls_per_decision"),
        "device_name": s.get("device_name"),
        "checkpoint": s.get("checkpoint"),
        "git_commit": s.get("git_commit"),
    }


def table(rows: list[dict], task: str) -> str:
    lines = [
        f"Planner levers on {task} (success over the episodes shown; time: median decision of "
        "the timing run, threads as given)",
        "",
        "| lever | planner | success (95% CI) | episodes | median ms | p95 ms | speed figure |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["planner"]
        plan = f"{p['samples']}x{p['iterations']} H{p['horizon']}"
        if p.get("elite_reuse"):
            plan += f", reuse {p['elite_reuse']}"
        if p.get("early_stop"):
            plan += f", stop {p['early_stop']}/{p['early_stop_window']}"
        lo, hi = r["success_ci95"]
        ms = "-" if r["plan_ms_median"] is None else f"{r['plan_ms_median']:.0f}"
        p95 = "-" if r["plan_ms_p95"] is None else f"{r['plan_ms_p95']:.0f}"
        lines.append(
            f"| {r['lever']} | {plan} | {r['success_rate']:.1%} ({lo:.1%}-{hi:.1%}) | "
            f"{r['episodes']} | {ms} | {p95} | {'yes' if r['timing_is_speed_figure'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="runs/reacher-cpu")
    parser.add_argument("--task", default="reacher-pose")
    parser.add_argument("--levers", nargs="+", default=list(LEVERS))
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--timing-episodes", type=int, default=20)
    parser.add_argument("--phase", choices=("all", "success", "timing"), default="all")
    parser.add_argument("--threads", type=int, default=2, help="OMP threads of each run")
    parser.add_argument("--table-only", action="store_true", help="run nothing; rebuild the table")
    parser.add_argument("--runs", default=str(RUNS), help="folder of the evaluation runs")
    parser.add_argument("--out", help="JSON path (the .md beside it)")
    args = parser.parse_args(argv)
    try:
        unknown = [lever for lever in args.levers if lever not in LEVERS]
        if unknown:
            raise InputError(f"unknown lever(s) {unknown}; choose among {', '.join(LEVERS)}")
        if not args.table_only:
            for lever in args.levers:
                if args.phase in ("all", "success"):
                    evaluate(args, lever, timing=False)
            for lever in args.levers:
                if args.phase in ("all", "timing"):
                    evaluate(args, lever, timing=True)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    # Every lever with results, not only those run now: the table is the whole comparison.
    rows = [r for lever in LEVERS if (r := row(args, lever)) is not None]
    payload = {"task": args.task, "machine": machine(), "rows": rows}
    path = write_json("planner_levers.json", payload, args.out)
    md = table(rows, args.task)
    (path.with_suffix(".md") if args.out else RESULTS / "planner_levers.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
