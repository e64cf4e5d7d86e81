"""Goal-reaching benchmark of docs/protocol.md: every task, CEM and MPPI, with the default CPU models.

    python -m benchmarks.goal_reaching [--tasks reacher-pose ...] [--planners cem mppi]
                                       [--episodes 200] [--preset cpu] [--device auto]

For each task's world and looks it trains the default model (or reuses
``runs/<key>-<preset>``, e.g. ``runs/reacher-target-cpu`` for reacher-easy-return), then runs
``agents.evaluate`` for every task of that world and planner. The random, zero and oracle
baselines run in the same command as the first planner of each task. Writes
``benchmarks/results/goal_reaching.json`` and ``goal_reaching.md`` (date, commit, machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks._common import RESULTS, machine, write_json
from envs.tasks import TASKS
from worldmodel.config import task_env_overrides, world_key

LONG_HORIZON = ("cem_graph", "cem_learned")
"""Planner presets that need the latent graph and the learned distance beside the checkpoint."""
GRAPH_DATA = {"wall": 1000}
"""Worlds whose latent graph is built from a larger random data set than the model's own (episodes).
wall: each door place needs random walks of nearly that door that crossed it (a quarter of
random episodes cross); on its own 270 training episodes cem_graph reached 69.0% of wall-door,
on 1,000 episodes 95.5% (docs/results-log.md)."""
GRAPH_SETTINGS = ("graph.max_nodes=60000", "distance.sources=2048", "distance.steps=10000")
"""Graph and distance settings used with ``GRAPH_DATA``."""


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument(
        "--planners",
        nargs="+",
        default=["cem", "mppi"],
        help="planner presets: cem, mppi (the protocol's reference rows), cem_graph, cem_learned",
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--extra", nargs="*", default=[], help="more key=value settings for agents.evaluate"
    )
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="run nothing: rebuild the JSON and table from results/goal_reaching/*/eval.json",
    )
    args = parser.parse_args()
    for name in [] if args.table_only else args.tasks:
        task = TASKS[name]
        run_dir = Path("runs") / f"{world_key(task.world, task.env_kwargs)}-{args.preset}"
        run(
            [
                sys.executable,
                "-m",
                "worldmodel.train",
                *task_env_overrides(task.world, task.env_kwargs),
                f"preset={args.preset}",
                f"device={args.device}",
                f"run_dir={run_dir}",
            ]
        )
        for i, planner in enumerate(args.planners):
            if planner in LONG_HORIZON and not (run_dir / "distance.pt").exists():
                run(graph_command(task, run_dir))
            cmd = [
                sys.executable,
                "-m",
                "agents.evaluate",
                f"task={name}",
                f"checkpoint={run_dir / 'checkpoint.pt'}",
                f"planner={planner}",
                f"eval.episodes={args.episodes}",
                f"run_dir={RESULTS / 'goal_reaching' / f'{name}-{planner}'}",
                f"device={args.device}",
                *args.extra,
            ]
            if i > 0:  # the floors once per task; an oracle for each planner structure
                cmd.append(
                    "eval.baselines=[oracle]" if planner in LONG_HORIZON else "eval.baselines=[]"
                )
            run(cmd)
    # Every (task, planner) pair keeps its latest eval.json: the table holds this run's rows and
    # earlier runs' rows of the pairs it did not redo, so runs can be split across machines.
    order = list(TASKS)
    found = [
        {**json.loads(p.read_text()), "folder": p.parent.name}
        for p in (RESULTS / "goal_reaching").glob("*/eval.json")
    ]
    # a baselines-only run (eval.agent=false) has no agent row of its own
    found = [r for r in found if r.get("agent_played", True)]
    rows = sorted(
        found,
        key=lambda r: (order.index(r["task"]), r.get("dmc", ""), _label(r), r.get("date", "")),
    )
    info = machine()
    # the summary keeps each run's totals; its per-episode rows stay in its own eval.json
    summary = [_totals(r) for r in rows]
    write_json("goal_reaching.json", {"machine": info, "results": summary})
    (RESULTS / "goal_reaching.md").write_text(table(rows, info))
    print(table(rows, info))


def _totals(row: dict) -> dict:
    """``row`` (an eval.json) without its per-episode rows, its baselines' included."""
    out = {k: v for k, v in row.items() if k not in ("per_episode", "folder")}
    if isinstance(out.get("baselines"), dict):
        out["baselines"] = {
            name: {k: v for k, v in base.items() if k != "per_episode"}
            for name, base in out["baselines"].items()
        }
    return out


def graph_command(task, run_dir: Path) -> list[str]:
    """The command that builds the graph and distance beside ``run_dir``'s checkpoint, from the
    larger random data set its world needs (``GRAPH_DATA``), if any."""
    cmd = [sys.executable, "-m", "worldmodel.distance", f"checkpoint={run_dir / 'checkpoint.pt'}"]
    episodes = GRAPH_DATA.get(task.world)
    return cmd if episodes is None else [*cmd, f"collect_episodes={episodes}", *GRAPH_SETTINGS]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _fewer(baseline: dict, row: dict) -> str:
    """A note when a baseline ran on fewer episodes than the row (docs/protocol.md: flag it)."""
    n = baseline.get("episodes", row["episodes"])
    return f" ({n} ep., smoke)" if n < row["episodes"] else ""


def _label(row: dict) -> str:
    """The planner column: name and settings, and its high level or cost where not plain."""
    p = row["planner"]
    label = f"{p['name']} {p['samples']}x{p['iterations']} H{p['horizon']}"
    if p.get("subgoals", "none") != "none":
        label += f" + {p['subgoals']} subgoals ({p['lookahead']:g} ahead)"
    cost = row.get("cost") or {}
    metric = cost.get("metric", "l2")
    if metric != "l2":
        label += f", {metric} cost"
    if cost.get("l2_weight"):
        label += f" + {cost['l2_weight']:g} x l2"
    return label


def _task(row: dict) -> str:
    """The task column: dmc-generic is one task over many domains, so its rows name theirs."""
    return f"{row['task']} ({row['dmc']})" if row.get("dmc") else row["task"]


def _episodes(row: dict) -> tuple:
    """The task, world revision and episode seed of ``row``: where its floors hold. A row that
    did not record its revision shares them only with rows of its own date."""
    rev = row.get("world_revision")
    return (_task(row), rev, row.get("seed"), row.get("date") if rev is None else None)


def _device(row: dict) -> str:
    name = row.get("device_name") or row.get("device", "?")
    return "H100" if "H100" in name else ("CPU" if row.get("device") == "cpu" else name)


def table(rows: list[dict], info: dict) -> str:
    lines = [
        f"Goal reaching, docs/protocol.md v{'/'.join(sorted({str(r['protocol_version']) for r in rows})) or '?'} "
        "(each row's version is in its eval.json; v2 changed only dmc-generic's success test); table built "
        f"{info['date']} at commit {info.get('commit')}. Each row's date, commit, device and "
        "checkpoint are in goal_reaching.json and its eval.json. Latency is one plan for E "
        "episodes at once (E = 1 on CPU, 25 on CUDA). Rows of one task differ in model, world "
        "revision (rev.) or episode seed; the folder under goal_reaching/ says which, with its "
        "eval.json; rev. - is a row written before eval.json recorded the revision (the sections "
        "of docs/results-log.md say which). A row without floors (random, zero) of its own takes "
        "the first measured on the same task, world revision and episode seed; an oracle is shown "
        "only on the row whose planner structure it used.",
        "",
        "| task | planner | rev. | seed | episodes | success (95% CI) or return | final dist. | "
        "plan ms median / p95 (E) | device | random | zero | oracle | date | folder |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    # the floors (random, zero) hold for the same episodes of the same world: each key takes
    # the first row that measured them; an oracle plans with its own row's planner structure
    floors: dict[tuple, dict] = {}
    for r in rows:
        own = {k: v for k, v in (r.get("baselines") or {}).items() if k != "oracle"}
        if own:
            floors.setdefault(_episodes(r), own)
    for r in rows:
        task = _task(r)
        b = {**floors.get(_episodes(r), {}), **(r.get("baselines") or {})}
        if r["metric"] == "return":
            main = f"{r['mean_return']:.0f} ({r['return_ci95'][0]:.0f}-{r['return_ci95'][1]:.0f})"
            cols = [
                f"{b[k]['mean_return']:.0f}{_fewer(b[k], r)}" if k in b else "-"
                for k in ("random", "zero", "oracle")
            ]
        else:
            lo, hi = r["success_ci95"]
            main = f"{_pct(r['success_rate'])} ({_pct(lo)}-{_pct(hi)})"
            cols = [
                f"{_pct(b[k]['success_rate'])}{_fewer(b[k], r)}" if k in b else "-"
                for k in ("random", "zero", "oracle")
            ]
        smoke = " (smoke)" if r.get("smoke") else ""
        lines.append(
            f"| {task} | {_label(r)} | {r.get('world_revision', '-')} | {r.get('seed', '-')} | "
            f"{r['episodes']}{smoke} | {main} | {r['mean_final_distance']:.3f} | "
            f"{r.get('plan_ms_median', 0):.0f} / {r.get('plan_ms_p95', 0):.0f} ({r.get('parallel_episodes', 1)}) | "
            f"{_device(r)} | {' | '.join(cols)} | {r.get('date', '-')} | {r.get('folder', '-')} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
