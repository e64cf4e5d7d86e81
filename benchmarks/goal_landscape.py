"""Does the latent goal cost rank positions by their true distance to the goal?

    python -m benchmarks.goal_landscape --checkpoint runs/X [--task point_mass-goal]
                                        [--episodes 20] [--seed 2] [--out FILE]

For each episode of the task (start and goal drawn as the task draws them, seeded), the
controlled body is put at 150 uniform positions in the arena and 50 near the goal, with
everything else as in the goal state; each frame is rendered and encoded, and the planner's
cost, the L2 distance of its embedding to the goal image's embedding, is ranked against the
true distance of the position to the goal (Spearman). Three numbers per model, means over the
episodes:

- ``hidden_goal``: against the task's own goal image, over all positions (the name is from
  point_mass revisions 1 and 2, whose marker hid the mass in the goal image; since revision 3
  the mass shows on it);
- ``hidden_goal_visible``: the same over positions more than 0.03 from the goal, where the body
  is off the goal marker;
- ``visible_goal``: against a frame of the same world with the body at a position q at least
  0.05 from the goal marker, ranking distance to q: the embedding's geometry where nothing hides.

A planner that descends this cost can only succeed where the ranking is high. point_mass
tasks only (its state starts with the mass's (x, y) position).
Writes ``benchmarks/results/goal_landscape.json`` (or ``--out``), one entry per checkpoint and
world revision of the frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks._common import RESULTS, machine, write_json
from benchmarks.learned_distance import spearman
from envs import world_revision
from envs.tasks import TASKS

ARENA = 0.29
"""Positions are drawn in [-ARENA, ARENA]^2 (point_mass's joint range)."""


def _frames(env, template: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Frames of ``template`` with the body at each of ``points`` [N, 2] -> [N, H, W, 3]."""
    out = []
    for p in points:
        state = template.copy()
        state[:2] = p
        out.append(env.render_state(state))
    return np.stack(out)


def landscape(checkpoint: str, task_name: str, episodes: int, seed: int) -> dict:
    from worldmodel.api import load

    task = TASKS[task_name]
    if task.world != "point_mass":
        raise SystemExit(f"error: task {task_name!r}: only point_mass tasks are supported")
    model = load(checkpoint, device="cpu")
    env = task.make_env(image_size=model.image_size)
    rows: dict[str, list[float]] = {
        "hidden_goal": [],
        "hidden_goal_visible": [],
        "visible_goal": [],
    }
    try:
        for k, ep in enumerate(task.episodes(seed, episodes)):
            rng = np.random.default_rng(k)
            goal = ep.goal
            # model.encode runs without gradients
            z_goal = model.encode(env.render_state(goal)[None])  # [1, D]
            pts = np.concatenate(
                [rng.uniform(-ARENA, ARENA, (150, 2)), goal[:2] + rng.normal(0, 0.03, (50, 2))]
            )
            cost = (model.encode(_frames(env, goal, pts)) - z_goal).norm(dim=-1).numpy()
            dist = np.linalg.norm(pts - goal[:2], axis=1)
            rows["hidden_goal"].append(spearman(cost, dist))
            away = dist > 0.03
            rows["hidden_goal_visible"].append(spearman(cost[away], dist[away]))
            q = rng.uniform(-ARENA, ARENA, 2)
            while np.linalg.norm(q - goal[:2]) < 0.05:
                q = rng.uniform(-ARENA, ARENA, 2)
            pts = np.concatenate(
                [rng.uniform(-ARENA, ARENA, (150, 2)), q + rng.normal(0, 0.03, (50, 2))]
            )
            pts = pts[np.linalg.norm(pts - goal[:2], axis=1) > 0.03]
            z_q = model.encode(_frames(env, goal, q[None]))  # [1, D]
            cost = (model.encode(_frames(env, goal, pts)) - z_q).norm(dim=-1).numpy()
            rows["visible_goal"].append(spearman(cost, np.linalg.norm(pts - q, axis=1)))
    finally:
        env.close()
    return {
        "checkpoint": checkpoint,
        "task": task_name,
        "world_revision": world_revision(task.world),  # of the frames scored here
        "episodes": episodes,
        "seed": seed,
        **{name: float(np.mean(values)) for name, values in rows.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", nargs="+", required=True)
    parser.add_argument("--task", default="point_mass-goal", choices=sorted(TASKS))
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    path = Path(args.out) if args.out else RESULTS / "goal_landscape.json"
    kept = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    # one row per checkpoint and world revision of the frames (rows before revision 3 lack it)
    runs = {(r["checkpoint"], r.get("world_revision")): r for r in kept}
    for ckpt in args.checkpoint:
        row = landscape(ckpt, args.task, args.episodes, args.seed)
        print(
            f"{ckpt}: Spearman of cost and true distance: hidden goal {row['hidden_goal']:.2f} "
            f"(away from it {row['hidden_goal_visible']:.2f}), visible goal {row['visible_goal']:.2f}"
        )
        runs[ckpt, row["world_revision"]] = row
    write_json(path.name, {"runs": list(runs.values()), "machine": machine()}, args.out)


if __name__ == "__main__":
    main()
