"""Subgoals on a graph over training embeddings: the high level of a two-level planner.

``GraphSubgoals`` takes plain arrays (the nodes of a latent graph, its edges), never a model.
At the start of an episode, ``reset(z_goal)`` joins each goal embedding to its nearest nodes and
runs Dijkstra from it over the graph. At each decision, ``select(z)`` joins the current
embedding to its nearest nodes, follows the shortest path toward the goal, and returns the node
``lookahead`` decisions along it (or the goal itself once it is that near); the low level (the
latent MPC) then plans toward that subgoal with its usual cost. So the MPC only ever plans a
few decisions ahead, and the graph, built from what the data did, knows the way round a wall.

Joining uses the graph's own distance (:mod:`worldmodel.graph`: what the actions move counts in
full, what stays constant within an episode counts less), and ``lookahead`` counts controllable
moves only: a path may hop to a frame recorded under a slightly different door, and such a hop
takes the agent nowhere, so it does not use up the lookahead (counted in graph weight it did,
and the subgoal then stayed where the agent already was).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from worldmodel.graph import metric_space, pairwise_sq


class Subgoals(Protocol):
    """The high level of a two-level planner, as the agent uses it."""

    def reset(self, z_goal: Tensor) -> None:
        """Start episodes toward goal embeddings ``z_goal [E, D]``."""
        ...

    def select(self, z: Tensor) -> Tensor:
        """Subgoal embeddings ``[E, D]`` for the current embeddings ``z [E, D]``."""
        ...


class Graph(Protocol):
    """What the subgoal planner reads from a latent graph (:class:`worldmodel.graph.LatentGraph`)."""

    nodes: np.ndarray
    """Node embeddings ``[M, D]``."""
    step_scale: float
    """Embedding distance of one typical decision."""
    basis: np.ndarray
    """Controllable directions ``[D, C]`` (orthonormal columns)."""
    config: dict
    """The graph's settings (``context_radius`` is read)."""

    @property
    def size(self) -> int: ...

    def adjacency(self, extra=None, n=None): ...


class GraphSubgoals:
    """Subgoals ``lookahead`` decisions along the graph's shortest path to the goal.

    ``attach``: nearest nodes the current and goal embeddings are joined to, with weights of
    their embedding distance in decisions (``/ step_scale``).
    """

    def __init__(self, graph: Graph, lookahead: float = 5.0, attach: int = 8) -> None:
        if lookahead <= 0 or attach < 1:
            raise ValueError(
                f"lookahead must be positive and attach >= 1, got {lookahead}, {attach}"
            )
        self.graph = graph
        self.lookahead = float(lookahead)
        self.attach = min(attach, graph.size)
        self.nodes = torch.from_numpy(np.ascontiguousarray(graph.nodes)).float()  # [M, D]
        self.basis = torch.from_numpy(np.ascontiguousarray(graph.basis)).float()  # [D, C]
        self.context_radius = float(graph.config["context_radius"])
        self._metric_nodes = metric_space(self.nodes, self.basis, self.context_radius)  # [M, D]
        self._adjacency = graph.adjacency()
        self._goal: Tensor | None = None  # [E, D]
        self._dist: np.ndarray | None = None  # [E, M + 1]: to the goal, via the graph
        self._pred: np.ndarray | None = None  # [E, M + 1]: next node toward the goal
        self.last_path_length: np.ndarray | None = None
        """Graph distance (decisions) from the current state to the goal at the last select."""

    def _nearest(self, z: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The ``attach`` nearest nodes ``[E, k]`` of ``z [E, D]`` in the graph's distance, and
        their weights ``[E, k]``: that distance in decisions, as the graph's neighbour edges."""
        d2 = pairwise_sq(metric_space(z, self.basis, self.context_radius), self._metric_nodes)
        vals, idx = d2.topk(self.attach, dim=1, largest=False)  # [E, k]
        return idx.numpy(), (vals.sqrt() / self.graph.step_scale).numpy()

    def _moves(self, a: Tensor, b: Tensor) -> float:
        """Controllable moves (decisions) between embeddings ``a [D]`` and ``b [D]``."""
        return float(((b - a) @ self.basis).norm()) / self.graph.step_scale

    def reset(self, z_goal: Tensor) -> None:
        """Start episodes toward ``z_goal [E, D]``: shortest paths from each goal to every node."""
        from scipy.sparse import bmat, csr_matrix
        from scipy.sparse.csgraph import dijkstra

        goal = z_goal.detach().float().cpu()
        idx, w = self._nearest(goal)
        m = self.graph.size
        dist = np.empty((len(goal), m + 1), np.float32)
        pred = np.empty((len(goal), m + 1), np.int64)
        for e in range(len(goal)):  # the goal is node m of its own graph
            col = csr_matrix(
                (np.maximum(w[e], 1e-6), (idx[e], np.zeros_like(idx[e]))), shape=(m, 1)
            )
            adj = bmat([[self._adjacency, col], [col.T, None]], format="csr")
            d, p = dijkstra(adj, directed=False, indices=m, return_predecessors=True)
            dist[e], pred[e] = d, p
        self._goal, self._dist, self._pred = goal, dist, pred

    def _ways(self, z: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For ``z [E, D]`` (CPU): its attached nodes ``[E, k]``, their weights ``[E, k]`` and the
        length of the way to the goal through each ``[E, k]`` (inf where none)."""
        if self._dist is None:
            raise RuntimeError("call reset(z_goal) before planning toward the goal")
        idx, w = self._nearest(z)
        return idx, w, w + np.take_along_axis(self._dist, idx, axis=1)

    def way_length(self, z: Tensor) -> np.ndarray:
        """The graph's shortest way (decisions) ``[E]`` from embeddings ``z [E, D]`` to the goals
        of the last :meth:`reset`; inf where the graph knows no way."""
        return self._ways(z.detach().float().cpu())[2].min(axis=1)

    def select(self, z: Tensor) -> Tensor:
        """Subgoals ``[E, D]`` (on ``z``'s device) for the current embeddings ``z [E, D]``."""
        if self._goal is None or self._dist is None or self._pred is None:
            raise RuntimeError("call reset(z_goal) before select(z)")
        cur = z.detach().float().cpu()
        idx, w, totals = self._ways(cur)
        m = self.graph.size
        out = self._goal.clone()
        lengths = np.empty(len(cur), np.float32)
        for e in range(len(cur)):
            direct = float((cur[e] - self._goal[e]).norm()) / self.graph.step_scale
            total = totals[e]
            best = int(np.argmin(total))
            lengths[e] = min(float(total[best]), direct) if np.isfinite(total[best]) else direct
            if not np.isfinite(total[best]) or direct <= self.lookahead:
                continue  # no way known, or near enough: aim at the goal itself
            # distance along the path counts controllable moves only: a hop to a frame of
            # another episode constant (the door a little higher) takes the agent nowhere
            node = int(idx[e][best])
            travelled = self._moves(cur[e], self.nodes[node])
            while travelled < self.lookahead:
                nxt = int(self._pred[e, node])
                if nxt < 0 or nxt == m:  # reached the goal
                    node = m
                    break
                travelled += self._moves(self.nodes[node], self.nodes[nxt])
                node = nxt
            if node != m:
                out[e] = self.nodes[node]
        self.last_path_length = lengths
        return out.to(z.device)
