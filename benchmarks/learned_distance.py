"""Does the learned distance know the way through the door? Checked against the true shortest way.

    python -m benchmarks.learned_distance --checkpoint runs/wall-cpu [--episodes 20] [--grid 15]
                                          [--seed 0] [--out FILE]

For each of ``--episodes`` wall-door episodes (start and goal drawn as the task draws them,
seeded), the agent is put on a ``--grid`` x ``--grid`` lattice of positions in both rooms with
the episode's door, each frame is rendered and encoded, and the learned distance
(``distance.pt`` beside the checkpoint, from ``python -m worldmodel.distance``) to the goal
image's embedding is compared with the world's true shortest way (``path_distances``: through
the door). Per episode and in the mean:

- Spearman rank correlation of learned and true distance over all positions, and over the
  positions in the room the goal is not in (where the way must go through the door);
- along the wall on that side (positions within 0.25 of it), the height the learned distance
  prefers, and its distance to the door's centre (a distance that knows the way prefers the
  door; one that does not points at the goal through the wall), beside the same for the
  straight-line distance to the goal, which is blind to the door.

It also checks the latent graph beside the checkpoint (``graph.npz``) against the simulator
states of its nodes: how many neighbour edges join frames on either side of the wall away from
the door (wormholes a path could take), how far apart the doors of joined frames are, and the
share of the episodes whose goal the graph knows a way to from the start.

Writes ``benchmarks/results/learned_distance.json`` (date, commit, machine, checkpoint).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import machine, write_json

NEAR_WALL = 0.25
"""Positions closer than this to the wall's centre line count as 'along the wall'."""
DOOR_SLACK = 0.02
"""A frame counts as in the door when its height is within the door's clearance plus this."""


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two 1-D arrays (ties broken by order)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def lattice(env, door: float, n: int) -> np.ndarray:
    """Sim states ``[P, 5]`` at rest on an ``n`` x ``n`` lattice of each room, with ``door``."""
    states = []
    for side in (-1, 1):
        low, high = env._room_bounds(side)
        xs, ys = np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n)
        states += [[x, y, 0.0, 0.0, door] for x in xs for y in ys]
    return np.array(states)


def check_episode(env, model, distance, start: np.ndarray, goal: np.ndarray, n: int) -> dict:
    """The comparison of one episode (see the module doc)."""
    _, goal = env.pair_states(start, goal)
    z_goal = model.encode(env.render_state(goal)[None])  # [1, D]
    states = lattice(env, float(goal[4]), n)
    frames = np.stack([env.render_state(s) for s in states])
    with torch.no_grad():
        learned = distance(model.encode(frames), z_goal).cpu().numpy()  # [P]
    true = env.path_distances(states, goal)
    other = np.sign(states[:, 0]) != np.sign(goal[0])
    wall = other & (np.abs(states[:, 0]) < NEAR_WALL)
    preferred = float(states[wall][np.argmin(learned[wall]), 1])
    straight = np.linalg.norm(states[:, :2] - goal[:2], axis=-1)
    blind = float(states[wall][np.argmin(straight[wall]), 1])  # a door-blind distance's choice
    return {
        "door": float(goal[4]),
        "goal": goal[:2].tolist(),
        "spearman_all": spearman(learned, true),
        "spearman_other_room": spearman(learned[other], true[other]),
        "preferred_wall_height": preferred,
        "door_error": abs(preferred - float(goal[4])),
        "door_error_straight": abs(blind - float(goal[4])),
    }


def check_graph(env, model, path: Path, pairs: list) -> dict:
    """The graph at ``path`` against the simulator states of its nodes (see the module doc)."""
    from agents.planners.subgoals import GraphSubgoals
    from envs.wall import DOOR_HALF_WIDTH
    from worldmodel.data import EpisodeDataset
    from worldmodel.graph import LatentGraph

    graph = LatentGraph.load(path)
    source = graph.config.get("data")
    if not source:
        return {
            "skipped": f"{path} does not record its data; rebuild it (python -m worldmodel.distance)"
        }
    dataset = EpisodeDataset(source["dir"], verify=False)
    used = source["episodes"][: int(graph.episode.max()) + 1]
    stride = int(graph.config["stride"])
    states = np.concatenate([dataset.episode(e).states[::stride] for e in used])  # [M, S]
    transitions = len(used) * (len(states) // len(used) - 1)
    a, b = states[graph.src[transitions:]], states[graph.dst[transitions:]]
    clear = DOOR_HALF_WIDTH - env._agent_radius + DOOR_SLACK
    across = np.sign(a[:, 0]) != np.sign(b[:, 0])
    away = across & ((np.abs(a[:, 1] - a[:, 4]) > clear) | (np.abs(b[:, 1] - b[:, 4]) > clear))
    subgoals = GraphSubgoals(graph)
    reached = []
    for start, goal in pairs:
        start, goal = env.pair_states(start, goal)
        subgoals.reset(model.encode(env.render_state(goal)[None]))
        reached.append(
            np.isfinite(subgoals.way_length(model.encode(env.render_state(start)[None]))[0])
        )
    return {
        "neighbour_edges": int(len(a)),
        "across_the_wall": int(across.sum()),
        "across_the_wall_away_from_the_door": int(away.sum()),
        "door_difference_p99": float(np.percentile(np.abs(a[:, 4] - b[:, 4]), 99)),
        "goals_reachable": float(np.mean(reached)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True, help="a wall model with distance.pt")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--grid", type=int, default=15, help="lattice points per side of a room")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="result file (default: benchmarks/results)")
    args = parser.parse_args(argv)

    import envs
    from agents.planners.aids import learned_distance
    from worldmodel.api import load

    model = load(args.checkpoint, device="cpu")
    world = model.info["config"]["env"]["name"]
    if world != "wall":
        raise SystemExit(
            f"{args.checkpoint} is a {world} model; this check needs the wall world (its true "
            "shortest way goes through the door): pass a model trained with env=wall"
        )
    distance = learned_distance(model.info["path"], "cpu")
    env = envs.make("wall", **model.info["env"]["kwargs"])
    rng = np.random.default_rng(args.seed)
    pairs = [env.sample_episode(rng) for _ in range(args.episodes)]
    rows = [check_episode(env, model, distance, *pair, args.grid) for pair in pairs]
    graph = check_graph(env, model, Path(model.info["path"]).parent / "graph.npz", pairs)
    env.close()
    keys = ("spearman_all", "spearman_other_room", "door_error", "door_error_straight")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    payload = {
        "machine": machine(),
        "checkpoint": str(Path(model.info["path"])),
        "episodes": args.episodes,
        "grid": args.grid,
        "seed": args.seed,
        "mean": mean,
        "graph": graph,
        "per_episode": rows,
    }
    path = write_json("learned_distance.json", payload, args.out)
    print(
        f"{args.checkpoint}: learned vs true distance over {args.episodes} episodes: Spearman "
        f"{mean['spearman_all']:.2f} (other room {mean['spearman_other_room']:.2f}); along the "
        f"wall it prefers a height {mean['door_error']:.2f} from the door centre on average "
        f"(the straight-line distance, blind to the door: {mean['door_error_straight']:.2f}) "
        f"({path.name})\ngraph: {graph}"
    )
    return payload


if __name__ == "__main__":
    main()
