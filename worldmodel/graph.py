"""A graph over the embeddings of the training data: shortest ways between latent states.

Nodes are embeddings of training frames. Two kinds of edges join them:

- *transitions*: frame t and frame t+1 of one trajectory, weight 1 (one decision);
- *neighbours*: each node and its ``k`` nearest nodes whose distance (below) is at most
  ``radius`` typical one-decision moves, weight = that distance in one-decision moves (so two
  frames of the same place from different trajectories are nearly free to join).

Distances tell apart what the actions move from what stays constant within an episode (the
door's place, a drawn target): the *controllable* directions are those that carry
``controllable_share`` of the embeddings' variance within episodes (``basis``); a difference in
the other directions counts ``1 / context_radius`` as much. Frames of the same state under a
slightly different episode constant are then stitched (random walks of one exact door are few,
and a graph of exact doors falls apart into islands that never cross), while frames of two
states stay apart (two frames on either side of a thin wall look alike, but differ in the
controllable directions). Subgoals count the lookahead along a path in controllable moves
(:mod:`agents.planners.subgoals`).

Edges are undirected: the worlds here can undo a move. Shortest paths on this graph stitch
trajectories together and respect what the data never crossed (a wall between two rooms is
never crossed by a transition, and frames on either side of it are not neighbours as long as
``radius`` is below the wall's thickness in one-decision moves). It serves two planners:
subgoals along the shortest path (:mod:`agents.planners.subgoals`) and the targets of a learned
distance regressed on graph distances (:mod:`worldmodel.distance`).

Shapes: ``nodes [M, D]`` float32, ``episode [M]`` and ``time [M]`` int (where each node came
from), edges as ``src [K]``, ``dst [K]`` int and ``weight [K]`` float32 (each undirected edge
once), ``basis [D, C]`` float32 (orthonormal controllable directions).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.errors import InputError

FILE = "graph.npz"
"""File name of a latent graph, saved next to its world model's checkpoint."""
ARRAYS = ("nodes", "episode", "time", "src", "dst", "weight", "basis")
"""The arrays of a graph file (besides ``step_scale`` and ``config``)."""


@dataclass
class GraphConfig:
    """Settings of the latent graph."""

    max_nodes: int = 60000
    """Training frames kept as nodes (whole trajectories, every ``stride``-th frame). The
    default keeps every training frame of each world's default data set: on point_mass-goal
    (revision 3, learned cost, CEM 100x10, 200 episodes) a graph of all 27,270 training frames
    reached 69.5% where one of 12,000 (the default before 2026-12-02) reached 55.0%, at about
    the same build time (docs/results-log.md)."""
    stride: int = 1
    """Keep every stride-th frame of each trajectory (transitions then weigh ``stride``)."""
    neighbours: int = 16
    """Nearest neighbours tried per node."""
    radius: float = 1.0
    """Largest neighbour edge, in units of the median one-decision move in embedding space."""
    context_radius: float = 3.0
    """How much larger a difference in the directions that stay constant within an episode may
    be (1: plain Euclidean distance, as before 2026-11-30)."""
    controllable_share: float = 0.95
    """Share of the within-episode variance whose principal directions count as controllable."""

    def __post_init__(self) -> None:
        for name in ("max_nodes", "stride", "neighbours"):
            if getattr(self, name) < 1:
                raise InputError(f"graph.{name} must be at least 1, got {getattr(self, name)}")
        if self.radius <= 0 or self.context_radius < 1:
            raise InputError(
                f"graph.radius must be positive and graph.context_radius at least 1, got "
                f"{self.radius}, {self.context_radius}"
            )
        if not 0 < self.controllable_share <= 1:
            raise InputError(
                f"graph.controllable_share must be in (0, 1], got {self.controllable_share}"
            )


@dataclass
class LatentGraph:
    """Nodes, where they came from, undirected weighted edges, and the unit of the weights."""

    nodes: np.ndarray
    episode: np.ndarray
    time: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    step_scale: float
    """Median embedding distance of one decision: neighbour weights are distances / step_scale."""
    config: dict[str, Any]
    basis: np.ndarray
    """Controllable directions ``[D, C]`` (orthonormal columns)."""

    @property
    def size(self) -> int:
        return int(self.nodes.shape[0])

    def adjacency(
        self, extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, n: int | None = None
    ):
        """Symmetric scipy CSR matrix of the edges (plus ``extra`` edges; ``n`` nodes)."""
        from scipy.sparse import coo_matrix

        src, dst, w = self.src, self.dst, self.weight
        if extra is not None:
            src, dst, w = (np.concatenate([a, b]) for a, b in zip((src, dst, w), extra))
        n = n or self.size
        # a tiny floor: csgraph drops explicit zeros, which would cut a free edge
        w = np.maximum(w, 1e-6)
        mat = coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
            shape=(n, n),
        )
        return mat.tocsr()

    def distances_from(self, sources: np.ndarray) -> np.ndarray:
        """Shortest-path distances ``[S, M]`` (in decisions) from each source node."""
        from scipy.sparse.csgraph import dijkstra

        return dijkstra(self.adjacency(), directed=False, indices=sources).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Atomically write the graph as a plain ``.npz`` (no pickle)."""
        arrays = {k: getattr(self, k) for k in ARRAYS}
        with atomic_path(Path(path), keep_suffix=True) as tmp:
            np.savez(
                tmp,
                step_scale=np.float32(self.step_scale),
                config=np.array(json.dumps(self.config)),
                **arrays,
            )

    @classmethod
    def load(cls, path: str | Path) -> LatentGraph:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in ARRAYS}
                scale = float(f["step_scale"])
                config = json.loads(str(f["config"]))
        except (OSError, ValueError, KeyError) as e:
            raise InputError(
                f"{path}: not a readable latent graph ({e}); rebuild it with "
                "`python -m worldmodel.distance checkpoint=...`"
            ) from None
        return cls(**arrays, step_scale=scale, config=config)


def pairwise_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``[N, M]`` between rows of ``a [N, D]`` and ``b [M, D]``."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T).clamp_min_(0.0)


def controllable_basis(z: torch.Tensor, share: float) -> torch.Tensor:
    """Orthonormal directions ``[D, C]`` that carry ``share`` of the variance of trajectories
    ``z [E, T, D]`` around each trajectory's own mean (what moves within an episode)."""
    centred = (z - z.mean(1, keepdim=True)).reshape(-1, z.shape[-1]).double()  # [E*T, D]
    values, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending
    values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
    cumulative = values.cumsum(0) / values.sum().clamp_min(1e-12)
    count = min(int((cumulative < share - 1e-9).sum()) + 1, z.shape[-1])
    return vectors[:, :count].float()


@torch.no_grad()
def build_graph(z: torch.Tensor, cfg: GraphConfig, chunk: int = 2048) -> LatentGraph:
    """The graph over trajectories of embeddings ``z [E, T+1, D]`` (see the module doc)."""
    if z.dim() != 3 or z.shape[1] < 2:
        raise InputError(f"z must be [E, T+1, D] trajectories, got {tuple(z.shape)}")
    z = z[:, :: cfg.stride].float().cpu()
    per_episode = z.shape[1]
    keep = max(1, min(z.shape[0], cfg.max_nodes // per_episode))
    z = z[:keep]
    episodes, length, dim = z.shape
    nodes = z.reshape(-1, dim)
    episode = np.repeat(np.arange(episodes), length)
    time = np.tile(np.arange(length) * cfg.stride, episodes)
    step_scale = float((z[:, 1:] - z[:, :-1]).norm(dim=-1).median()) / cfg.stride
    step_scale = max(step_scale, 1e-6)
    basis = controllable_basis(z, cfg.controllable_share)  # [D, C]
    metric = metric_space(nodes, basis, cfg.context_radius)  # [M, D]

    idx = np.arange(episodes * length).reshape(episodes, length)
    t_src, t_dst = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    t_w = np.full(t_src.shape, float(cfg.stride), np.float32)

    n_src, n_dst, n_w = [], [], []
    k = min(cfg.neighbours + 1, nodes.shape[0])
    for lo in range(0, nodes.shape[0], chunk):
        d2 = pairwise_sq(metric[lo : lo + chunk], metric)  # [c, M]
        vals, cols = d2.topk(k, dim=1, largest=False)
        dist = vals.sqrt() / step_scale
        rows = torch.arange(lo, lo + d2.shape[0])[:, None].expand_as(cols)
        ok = (dist <= cfg.radius) & (cols != rows)
        n_src.append(rows[ok].numpy())
        n_dst.append(cols[ok].numpy())
        n_w.append(dist[ok].numpy().astype(np.float32))
    return LatentGraph(
        nodes=nodes.numpy(),
        episode=episode,
        time=time,
        src=np.concatenate([t_src, *n_src]),
        dst=np.concatenate([t_dst, *n_dst]),
        weight=np.concatenate([t_w, *n_w]),
        step_scale=step_scale,
        config=asdict(cfg),
        basis=basis.numpy(),
    )


def metric_space(z: torch.Tensor, basis: torch.Tensor, context_radius: float) -> torch.Tensor:
    """``z [N, D]`` mapped so that Euclidean distance there is the graph's distance: the
    controllable part (``basis [D, C]``) as it is, the rest divided by ``context_radius``."""
    controllable = (z @ basis) @ basis.T  # [N, D]
    return controllable + (z - controllable) / context_radius
