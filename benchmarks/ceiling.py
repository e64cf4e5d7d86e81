"""The highest success any planner could reach on a task, from physics alone.

    python -m benchmarks.ceiling [--task point_mass-goal] [--seeds 0 1 2] [--episodes 200]
                                 [--out FILE]

For each episode of the task's seeded list (the same episodes ``agents.evaluate`` plays), the
world's ``can_reach`` bound says whether any control sequence within the task's budget could
satisfy its success test (point_mass: the mass's reachable box under full thrust, see
``envs.dmc.PointMassEnv.can_reach``). The share of such episodes is a ceiling on every
planner's success rate, the oracle's included; a target above it cannot be met under the
task's definition. Worlds without a bound are refused.

Writes ``benchmarks/results/ceiling/<task>.json``: per seed the reachable share with its 95%
Wilson interval, and the free displacement the bound used.
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.evaluation.episodes import wilson
from benchmarks._common import machine, write_json
from envs.tasks import PROTOCOL_VERSION, TASKS


def ceiling(task_name: str, seed: int, episodes: int) -> dict:
    """The reachable share of ``episodes`` episodes of ``task_name`` drawn with ``seed``."""
    task = TASKS[task_name]
    env = task.make_env(image_size=16)
    try:
        eps = task.episodes(seed, episodes)
        verdicts = [env.can_reach(ep.start, ep.goal, task.budget) for ep in eps]
        if any(v is None for v in verdicts):
            raise SystemExit(
                f"error: world {task.world!r} of task {task_name!r} has no reach bound; "
                "tasks with one: point_mass-goal"
            )
        reachable = int(sum(bool(v) for v in verdicts))
        gaps = [float(np.linalg.norm(ep.goal[:2] - ep.start[:2])) for ep in eps]
    finally:
        env.close()
    return {
        "seed": seed,
        "episodes": episodes,
        "reachable": reachable,
        "ceiling": reachable / episodes,
        "ceiling_ci95": list(wilson(reachable, episodes)),
        "mean_start_goal_distance": float(np.mean(gaps)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="point_mass-goal", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument(
        "--out", default=None, help="JSON path (default: benchmarks/results/ceiling/<task>.json)"
    )
    args = parser.parse_args()
    task = TASKS[args.task]
    rows = [ceiling(args.task, seed, args.episodes) for seed in args.seeds]
    for row in rows:
        lo, hi = row["ceiling_ci95"]
        print(
            f"{args.task} seed {row['seed']}: {row['reachable']}/{row['episodes']} episodes "
            f"reachable within {task.budget} env steps = {row['ceiling']:.1%} ({lo:.1%}-{hi:.1%})"
        )
    env = task.make_env(image_size=16)
    try:
        free = env.free_displacement(task.budget)  # type: ignore[attr-defined]
    finally:
        env.close()
    write_json(
        f"ceiling/{args.task}.json",
        {
            "task": args.task,
            "protocol_version": PROTOCOL_VERSION,
            "budget_env_steps": task.budget,
            "free_displacement": free,
            "seeds": rows,
            "machine": machine(),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
