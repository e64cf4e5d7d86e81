"""The learned parts a planner may use, found next to the world model's checkpoint.

``python -m worldmodel.distance checkpoint=PATH`` writes ``graph.npz`` (the latent graph) and
``distance.pt`` (the learned distance) beside ``PATH``; ``cost.metric=learned`` and
``planner.subgoals=graph`` load them here, as plain functions and arrays for the agent.
"""

from __future__ import annotations

from pathlib import Path

import torch

from agents.planners.base import PlannerConfig
from agents.planners.cost import LEARNED, CostConfig, StepDistance
from agents.planners.subgoals import GraphSubgoals
from worldmodel.distance import FILE as DISTANCE_FILE
from worldmodel.distance import DistanceHead, load_distance
from worldmodel.graph import FILE as GRAPH_FILE
from worldmodel.graph import LatentGraph
from worldmodel.runtime.errors import InputError


def _beside(checkpoint: str | Path, name: str, setting: str) -> Path:
    path = Path(checkpoint).parent / name
    if not path.exists():
        raise InputError(
            f"{setting} needs {path}, which is missing; build it with "
            f"`python -m worldmodel.distance checkpoint={checkpoint}`"
        )
    return path


def learned_distance(checkpoint: str | Path, device: torch.device | str) -> StepDistance:
    """The learned distance beside ``checkpoint`` as a step distance ``(z [E, N, H, D],
    g [E, 1, 1, D]) -> [E, N, H]`` in decisions."""
    return load_distance(_beside(checkpoint, DISTANCE_FILE, "cost.metric=learned"), device)


def planning_aids(
    planner: PlannerConfig, cost: CostConfig, checkpoint: str | Path, device: torch.device | str
) -> tuple[StepDistance | None, GraphSubgoals | None]:
    """The learned distance (if ``cost.metric=learned``) and the graph subgoals (if
    ``planner.subgoals=graph``) of the model at ``checkpoint``; None where not asked for."""
    distance = learned_distance(checkpoint, device) if cost.metric == LEARNED else None
    subgoals = None
    if planner.subgoals == "graph":
        graph = LatentGraph.load(_beside(checkpoint, GRAPH_FILE, "planner.subgoals=graph"))
        subgoals = GraphSubgoals(graph, lookahead=planner.lookahead)
    return distance, subgoals


def aids_record(distance: StepDistance | None, subgoals: GraphSubgoals | None) -> dict | None:
    """How the learned parts :func:`planning_aids` loaded were built (the distance head's and
    the graph's settings, nodes and data), for eval.json; None when a run plans with neither."""
    record: dict = {}
    if isinstance(distance, DistanceHead):
        record["distance"] = distance.record
    if subgoals is not None and isinstance(subgoals.graph, LatentGraph):
        graph = subgoals.graph
        record["graph"] = {"nodes": graph.size, "edges": len(graph.src), "config": graph.config}
    return record or None
