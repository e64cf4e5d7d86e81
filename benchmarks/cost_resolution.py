"""Can the planner's cost tell a pose 0.1 rad off the goal from one 0.3 rad off?

    python -m benchmarks.cost_resolution --checkpoint runs/X [--domain swimmer --task swimmer6]
                                         [--episodes 20] [--per-radius 20] [--seed 0] [--out FILE]

dmc-generic succeeds when every qpos coordinate ends within 0.1 of the goal's (hinges wrapped).
For each of the task's seeded episodes, the goal state's hinge angles are moved by a random
direction scaled so that the largest gap is exactly r, for r in RADII, everything else as in the
goal; each frame is rendered and encoded, and the planner's cost (the L2 distance of its
embedding to the goal image's) is recorded; so is the cost of each hinge turned alone by 0.1
and 0.3 (a coordinate the cost barely sees is one the planner cannot bring home). Per radius: the cost's mean and spread (the spread
between poses equally far from the goal). Per pair of radii (a, b): the share of pairs of poses,
one at a and one at b, in which the nearer one costs less (an AUC; 0.5 is blind). And, from the
checkpoint's own diagnostics, the 5-step rollout's error in the same units (the L2 norm,
sqrt(D * per-dimension MSE)), to set beside the cost gap between 0.1 and 0.3: a planner scores
predicted embeddings, so a gap below the prediction's error cannot steer it there.

Writes ``benchmarks/results/cost_resolution.json`` (or ``--out``), one row per checkpoint and
world.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks._common import RESULTS, machine, write_json
from envs.dmc import hinge_qpos_indices, qpos_names
from envs.tasks import get_task

RADII = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
"""Largest hinge gap to the goal (rad) of the poses scored; success needs <= 0.1."""
SINGLE = (0.1, 0.3)
"""Turns of one hinge alone (rad)."""
PAIRS = ((0.05, 0.1), (0.1, 0.2), (0.1, 0.3), (0.2, 0.3), (0.3, 0.5))


def auc(near: np.ndarray, far: np.ndarray) -> float:
    """P(cost of a pose from ``near`` < cost of one from ``far``), ties counted half."""
    diff = far[None, :] - near[:, None]  # [N, M]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def turned(goal: np.ndarray, hinges: np.ndarray, r: float, n: int, rng) -> np.ndarray:
    """``n`` copies of the state ``goal`` [S] with its ``hinges`` turned along random
    directions scaled so that the largest turn is exactly ``r`` -> [n, S]."""
    u = rng.normal(size=(n, hinges.size))
    u *= r / np.abs(u).max(axis=1, keepdims=True)
    states = np.repeat(goal[None], n, axis=0)
    states[:, hinges] += u
    return states


def resolution(
    checkpoint: str, domain: str, dmc_task: str, episodes: int, per_radius: int, seed: int
) -> dict:
    """The cost's mean, spread and AUCs by radius over ``episodes`` goals of dmc-generic."""
    from worldmodel.api import load

    task = get_task("dmc-generic", domain=domain, task=dmc_task)
    model = load(checkpoint, device="cpu")
    trained = model.info["env"]
    have = (trained["kwargs"].get("domain"), trained["kwargs"].get("task"))
    if trained["name"] != "dmc" or have != (domain, dmc_task):
        world = f"dm_control {have[0]}/{have[1]}" if trained["name"] == "dmc" else trained["name"]
        raise SystemExit(
            f"error: {checkpoint} was trained on {world}, not dm_control {domain}/{dmc_task}; "
            "pass its --domain and --task"
        )
    env = task.make_env(image_size=model.image_size)
    costs: dict[float, list[np.ndarray]] = {r: [] for r in RADII}
    single: dict[tuple[int, float], list[float]] = {}
    try:
        hinges = hinge_qpos_indices(env.physics.model)  # qpos entries that are angles
        if hinges.size == 0:
            raise SystemExit(f"error: {domain}/{dmc_task} has no hinge joints to turn")
        for k, ep in enumerate(task.episodes(seed, episodes)):
            rng = np.random.default_rng([seed, k])
            z_goal = model.encode(env.render_state(ep.goal)[None])  # [1, D]
            for r in RADII:
                states = turned(ep.goal, hinges, r, per_radius, rng)  # [per_radius, S]
                z = model.encode(np.stack([env.render_state(x) for x in states]))  # [n, D]
                costs[r].append((z - z_goal).norm(dim=-1).numpy())
            # each hinge alone turned by +-r (sign drawn), the others at the goal
            for j, h in enumerate(hinges):
                frames = []
                for r in SINGLE:
                    state = ep.goal.copy()
                    state[h] += r * rng.choice((-1.0, 1.0))
                    frames.append(env.render_state(state))
                z = model.encode(np.stack(frames))  # [len(SINGLE), D]
                for r, c in zip(SINGLE, (z - z_goal).norm(dim=-1).numpy()):
                    single.setdefault((j, r), []).append(float(c))
        names = [qpos_names(env.physics.model)[h] for h in hinges]
    finally:
        env.close()
    # AUCs within each episode (one goal, its own cost scale), then averaged
    aucs = {
        f"{a}<{b}": float(np.mean([auc(x, y) for x, y in zip(costs[a], costs[b])]))
        for a, b in PAIRS
    }
    probe_path = Path(checkpoint) / "probe.json"
    if Path(checkpoint).is_file():
        probe_path = Path(checkpoint).parent / "probe.json"
    rollout = None
    if probe_path.exists():
        probe = json.loads(probe_path.read_text())
        dim = len(probe["embed_std_per_dim"])
        k = min(5, len(probe["rollout_mse"])) - 1  # the planner's horizon, 5 steps
        rollout = {
            "rollout_l2_5": float(np.sqrt(dim * probe["rollout_mse"][k])),
            "copy_last_l2_5": float(np.sqrt(dim * probe["copy_last_mse"][k])),
        }
    return {
        "checkpoint": checkpoint,
        "world": f"{domain}/{dmc_task}",
        "episodes": episodes,
        "per_radius": per_radius,
        "seed": seed,
        "hinges": int(hinges.size),
        "cost_mean": {str(r): float(np.mean(costs[r])) for r in RADII},
        # spread among poses equally far from the goal, within an episode, averaged
        "cost_std_within": {str(r): float(np.mean([c.std() for c in costs[r]])) for r in RADII},
        "auc": aucs,
        # the cost of one coordinate turned alone, by coordinate and turn (rad)
        "cost_single": {
            name: {str(r): float(np.mean(single[j, r])) for r in SINGLE}
            for j, name in enumerate(names)
        },
        "rollout": rollout,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--domain", default="swimmer")
    parser.add_argument("--task", default="swimmer6")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--per-radius", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    row = resolution(
        args.checkpoint, args.domain, args.task, args.episodes, args.per_radius, args.seed
    )
    means = ", ".join(f"{r}: {c:.3f}" for r, c in row["cost_mean"].items())
    print(f"{row['world']} {args.checkpoint}: cost by largest gap (rad) {means}")
    print("AUC (nearer costs less): " + ", ".join(f"{k} {v:.2f}" for k, v in row["auc"].items()))
    print(
        "one coordinate alone, cost at 0.1 / 0.3: "
        + ", ".join(f"{n} {c['0.1']:.2f}/{c['0.3']:.2f}" for n, c in row["cost_single"].items())
    )
    if row["rollout"]:
        print(
            f"5-step rollout error {row['rollout']['rollout_l2_5']:.3f} "
            f"(copy-last {row['rollout']['copy_last_l2_5']:.3f}) against the cost gap 0.1 -> 0.3 "
            f"{row['cost_mean']['0.3'] - row['cost_mean']['0.1']:.3f}"
        )
    path = Path(args.out) if args.out else RESULTS / "cost_resolution.json"
    kept = json.loads(path.read_text()).get("runs", []) if path.exists() else []
    runs = {(r["checkpoint"], r["world"]): r for r in kept}
    runs[args.checkpoint, row["world"]] = row
    write_json(path.name, {"runs": list(runs.values()), "machine": machine()}, args.out)


if __name__ == "__main__":
    main()
