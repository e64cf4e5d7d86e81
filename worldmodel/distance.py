"""A learned goal-conditioned distance in latent space: how many decisions from z to g.

The world model's embedding distance ``||z - g||`` is greedy: it knows nothing of walls, doors
or the way round. ``DistanceHead`` learns ``d(z, g)``, the number of decisions of the shortest
way the offline data knows from embedding ``z`` to embedding ``g``, by regression on the
shortest-path distances of the latent graph (:mod:`worldmodel.graph`): transitions of the
reward-free trajectories, stitched where two frames show nearly the same state. Pairs never
joined by the graph sit at ``max_distance``. Planning can then score predicted embeddings by
``d`` instead of the Euclidean distance (``cost.metric=learned``).

``DistanceHead`` is the mean of several heads fit to the same targets (``distance.mlp`` pair
heads, ``distance.metric`` metric heads), whose errors differ. It works on frozen embeddings (the
encoder is not touched) and takes a few minutes on a CPU.
``DistanceHead`` maps ``z [..., D]`` and ``g [..., D]`` to ``[...]``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from worldmodel.config import ProbeData
from worldmodel.graph import FILE as GRAPH_FILE
from worldmodel.graph import GraphConfig, LatentGraph, build_graph
from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.progress import progress
from worldmodel.runtime.schema import check

FILE = "distance.pt"
"""File name of a distance head, saved next to its world model's checkpoint."""


@dataclass
class DistanceConfig:
    """Settings of the learned distance."""

    mlp: int = 2
    """Heads of the pair form: an MLP on [z, g, z - g] (see DistanceHead)."""
    metric: int = 1
    """Heads of the metric form: ||phi(z) - phi(g)|| for an MLP phi. The distance is the mean of
    all heads, each fit to the same targets from its own initialization. Two pair heads and one
    metric head (the default since 2026-12-02) raised point_mass-goal from 69.5% to 74.0% over
    200 episodes and wall-door from 26% to 42% in a 50-episode smoke, against one pair head
    (mlp=1 metric=0, the default before), at about three times the head's cost per decision
    (docs/results-log.md, "several learned distances, one mean")."""
    steps: int = 4000
    """Optimizer steps."""
    batch_size: int = 1024
    """(state, goal) pairs per step."""
    hidden: int = 256
    """Hidden width of each head's MLP (and phi's output width, in the metric form)."""
    depth: int = 3
    """Linear layers of the distance MLP."""
    lr: float = 1e-3
    """Adam learning rate (cosine decay to 0)."""
    sources: int = 512
    """Goal nodes whose shortest-path distances to every node are the regression targets."""
    max_distance: float = 100.0
    """Clip of distances, in decisions (pairs the graph never joins sit here)."""
    near: int = 10
    """Half the pairs join a goal node to a node at most this many frames from it on its own
    trajectory (near goals need the most precision)."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "hidden", "depth", "sources"):
            if getattr(self, name) < 1:
                raise InputError(f"distance.{name} must be at least 1, got {getattr(self, name)}")
        if self.max_distance <= 0 or self.lr <= 0:
            raise InputError("distance.max_distance and distance.lr must be positive")
        check_heads(self.mlp, self.metric)


def check_heads(mlp: int, metric: int) -> None:
    """Refuse head counts that make no distance (negative, or no head at all)."""
    if mlp < 0 or metric < 0 or mlp + metric < 1:
        raise InputError(
            f"distance.mlp and distance.metric count the heads of each form: at least 0 each and "
            f"at least one head in all, got {mlp} and {metric}"
        )


def _mlp(width: int, hidden: int, depth: int, out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth - 1):
        layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
        width = hidden
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


class DistanceHead(nn.Module):
    """``d(z, g) >= 0`` in decisions: the mean of ``mlp + metric`` heads of two forms.

    - pair form (``nets``): an MLP on ``[z, g, z - g]`` with a softplus output.
    - metric form (``phis``): ``||phi(z) - phi(g)||`` for an MLP ``phi: D -> hidden``. It is
      symmetric and exactly zero at the goal, and ``phi(g)`` is computed once per call, not
      once per sample.

    Each head alone strays into dips of its own fitting error; their mean strays less, most of
    all across the two forms (point_mass-goal: docs/results-log.md, "several learned distances,
    one mean").

    ``forward(z [..., D], g [..., D]) -> [...]``; ``g`` broadcasts against ``z``.
    """

    def __init__(
        self, embed_dim: int, hidden: int = 256, depth: int = 3, mlp: int = 1, metric: int = 0
    ):
        super().__init__()
        check_heads(mlp, metric)
        self.embed_dim, self.hidden, self.depth = embed_dim, hidden, depth
        self.record: dict[str, Any] = {}
        """How it was built (settings, nodes, data set), as plain data; set by load_distance."""
        self.nets = nn.ModuleList(_mlp(3 * embed_dim, hidden, depth, 1) for _ in range(mlp))
        self.phis = nn.ModuleList(_mlp(embed_dim, hidden, depth, hidden) for _ in range(metric))

    @property
    def forms(self) -> dict[str, int]:
        """How many heads of each form: ``{"mlp": ..., "metric": ...}``."""
        return {"mlp": len(self.nets), "metric": len(self.phis)}

    def members(self, z: Tensor, g: Tensor) -> list[Tensor]:
        """Each head's distance ``[...]``, the pair heads first."""
        z, g = z.float(), g.float()
        out = []
        if len(self.nets):
            zz, gg = torch.broadcast_tensors(z, g)
            x = torch.cat([zz, gg, zz - gg], dim=-1)  # [..., 3D]
            out += [nn.functional.softplus(net(x)[..., 0]) for net in self.nets]  # [...]
        for phi in self.phis:
            diff = phi(z) - phi(g)  # [..., hidden] (broadcast)
            # sqrt(|x|^2 + eps) - sqrt(eps): smooth at the goal, exactly 0 there
            out.append((diff.square().sum(dim=-1) + 1e-6).sqrt() - 1e-3)  # [...]
        return out

    def forward(self, z: Tensor, g: Tensor) -> Tensor:
        parts = self.members(z, g)
        return parts[0] if len(parts) == 1 else torch.stack(parts).mean(dim=0)


def fit_distance(
    graph: LatentGraph,
    cfg: DistanceConfig,
    *,
    seed: int = 0,
    show_progress: bool = True,
) -> tuple[DistanceHead, dict[str, Any]]:
    """Fit a :class:`DistanceHead` to the shortest-path distances of ``graph`` (on the CPU).

    Targets: distances ``[S, M]`` from ``cfg.sources`` random goal nodes to every node, clipped
    at ``max_distance``; the loss is the squared error in log(1 + d), so that near goals, where
    planning needs precision, count as much as far ones (each head fits on its own; the
    summary's loss is their mean). Returns the head (eval mode) and a summary: the final
    loss and the mean predicted distance against the trajectory offset k.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    nodes = torch.from_numpy(graph.nodes).float()  # [M, D]
    sources = rng.choice(graph.size, size=min(cfg.sources, graph.size), replace=False)
    targets = torch.from_numpy(
        np.minimum(graph.distances_from(sources), cfg.max_distance)
    )  # [S, M]
    head = DistanceHead(nodes.shape[1], cfg.hidden, cfg.depth, cfg.mlp, cfg.metric)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    gen = torch.Generator().manual_seed(seed)
    src_nodes = nodes[torch.from_numpy(sources)]  # [S, D]
    length = graph.size // (int(graph.episode.max()) + 1)  # nodes per trajectory
    bar = progress(total=cfg.steps, desc="distance", unit="step", enabled=show_progress)
    loss_value = float("nan")
    for _ in range(cfg.steps):
        s = torch.randint(len(sources), (cfg.batch_size,), generator=gen)
        i = torch.randint(graph.size, (cfg.batch_size,), generator=gen)
        # half the pairs near in time on the source's own trajectory: near goals need precision
        near = torch.rand(cfg.batch_size, generator=gen) < 0.5
        offset = torch.randint(-cfg.near, cfg.near + 1, (cfg.batch_size,), generator=gen)
        src_idx = torch.from_numpy(sources)[s]
        t = src_idx % length  # place on its trajectory (nodes are stored trajectory by trajectory)
        t_near = (t + offset).clamp(0, length - 1)
        i = torch.where(near, src_idx - t + t_near, i)
        flip = torch.rand(cfg.batch_size, generator=gen) < 0.5  # both directions (undirected)
        a, b = nodes[i], src_nodes[s]
        z, g = torch.where(flip[:, None], b, a), torch.where(flip[:, None], a, b)
        goal = torch.log1p(targets[s, i])  # [B]
        # each member fits the targets on its own (the mean of their losses, for the summary)
        loss = torch.stack([(torch.log1p(d) - goal).square().mean() for d in head.members(z, g)])
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
        bar.update(1)
    bar.close()
    head.eval()
    by_episode = _trajectories(graph)
    return head, {"final_loss": loss_value, "by_offset": distance_by_offset(head, by_episode)}


def _trajectories(graph: LatentGraph) -> Tensor:
    """The graph's nodes as trajectories ``[E, T, D]`` (nodes are stored trajectory by trajectory)."""
    episodes = int(graph.episode.max()) + 1
    return torch.from_numpy(graph.nodes).float().view(episodes, -1, graph.nodes.shape[1])


@torch.no_grad()
def distance_by_offset(
    head: DistanceHead, z: Tensor, offsets: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 40)
) -> dict[str, float]:
    """Mean predicted d(z_t, z_{t+k}) over trajectories ``z [E, T+1, D]``, for each offset k."""
    out = {}
    for k in offsets:
        if k >= z.shape[1]:
            break
        out[str(k)] = float(head(z[:, : z.shape[1] - k], z[:, k:]).mean())
    return out


def save_distance(path: str | Path, head: DistanceHead, cfg: DistanceConfig, info: dict) -> None:
    """Atomically write the head's state dict and its config as plain data."""
    payload = {
        "kind": "worldmodel-distance",
        "embed_dim": head.embed_dim,
        "hidden": head.hidden,
        "depth": head.depth,
        "forms": head.forms,
        "config": asdict(cfg),
        "state_dict": head.state_dict(),
        "info": info,
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def _read(path: Path) -> dict[str, Any]:
    """The plain payload of the distance head file at ``path`` (``weights_only``: no pickle)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a bad input here
        raise InputError(
            f"{path}: not a readable distance head ({type(e).__name__}: {str(e).splitlines()[0]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("kind") != "worldmodel-distance":
        raise InputError(
            f"{path}: not a distance head; make one with `python -m worldmodel.distance checkpoint=...`"
        )
    return payload


def load_distance(path: str | Path, device: str | torch.device = "cpu") -> DistanceHead:
    """A :class:`DistanceHead` from ``path`` (loaded with ``weights_only=True``)."""
    path = Path(path)
    payload = _read(path)
    try:
        state = payload["state_dict"]
        forms = payload.get("forms")
        if forms is None:  # written before 2026-12-02: one pair-form head, named net
            forms = {"mlp": 1, "metric": 0}
            state = {k.replace("net.", "nets.0.", 1): v for k, v in state.items()}
        head = DistanceHead(
            int(payload["embed_dim"]),
            int(payload["hidden"]),
            int(payload["depth"]),
            int(forms["mlp"]),
            int(forms["metric"]),
        )
        head.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as e:
        why = (str(e).splitlines() or [""])[0]
        raise InputError(
            f"{path}: weights do not fit ({type(e).__name__}: {why}); rebuild it with "
            "`python -m worldmodel.distance checkpoint=...`"
        ) from None
    info = payload.get("info", {})
    keep = ("data_dir", "nodes", "edges", "seconds", "monotone_share")
    head.record = {"config": payload.get("config"), **{k: info[k] for k in keep if k in info}}
    return head.to(device).eval()


def monotone_share(by_offset: dict[str, float]) -> float:
    """Share of consecutive offsets whose mean distance grows (1.0: monotone)."""
    vals = list(by_offset.values())
    if len(vals) < 2:
        return float("nan")
    return float(np.mean([b > a for a, b in zip(vals, vals[1:])]))


__all__ = [
    "FILE",
    "DistanceConfig",
    "DistanceHead",
    "distance_by_offset",
    "fit_distance",
    "load_distance",
    "save_distance",
]


# ---- the command -------------------------------------------------------------------------


@dataclass
class DistanceCommandConfig:
    """Settings of ``python -m worldmodel.distance``."""

    checkpoint: str = ""
    """World model whose embeddings the graph and the distance are built on (required)."""
    data: ProbeData = field(default_factory=ProbeData)
    """Trajectories of the graph: the model's own training data unless data.dir names another
    data set of the same world and image size (more or other exploration)."""
    collect_episodes: int = 0
    """Build the graph from a random data set of this many episodes of the model's world,
    collected with the model's own collection settings (or reused from the cache); 0 = the
    model's own data (or data.dir). wall-door's graph needs 1000 (docs/results-log.md)."""
    graph: GraphConfig = field(default_factory=GraphConfig)
    """The latent graph over the training frames."""
    distance: DistanceConfig = field(default_factory=DistanceConfig)
    """The learned distance, regressed on the graph's shortest paths."""
    seed: int = 0
    """Seed of the sampled regression pairs."""
    device: str = "cpu"
    """Device that encodes the training frames: auto | cpu | cuda | cuda:N."""
    progress: bool = True
    """Show progress bars."""


USAGE = """usage: python -m worldmodel.distance checkpoint=PATH [data.dir=...|collect_episodes=N] [graph.max_nodes=...] [distance.steps=...]
Builds the latent graph of the model's training frames and the learned distance on it, next to
the checkpoint (graph.npz, distance.pt), for planner.subgoals=graph and cost.metric=learned."""


def build(cfg: DistanceCommandConfig) -> dict[str, Any]:
    """Encode the model's training episodes, build the graph, fit the distance, save both."""
    from worldmodel.api import load, model_dataset
    from worldmodel.checkpoint import config_from_dict
    from worldmodel.diagnostics import encode_episodes

    if not cfg.checkpoint:
        raise InputError("checkpoint= is required, e.g. checkpoint=runs/wall-cpu/checkpoint.pt")
    check(cfg, "", at_least={"seed": 0})
    model = load(cfg.checkpoint, device=cfg.device)
    trained = config_from_dict(model.info["config"])
    data_dir = cfg.data.dir
    if cfg.collect_episodes < 0:
        raise InputError(f"collect_episodes must be >= 0, got {cfg.collect_episodes}")
    if cfg.collect_episodes:
        from dataclasses import replace

        from worldmodel.collect import collect

        if data_dir:
            raise InputError(
                f"give data.dir= ({data_dir}) or collect_episodes= ({cfg.collect_episodes}), "
                "not both: the graph reads one data set"
            )
        more = replace(trained.data, episodes=cfg.collect_episodes, dir=None)
        data_dir = str(collect(replace(trained, data=more)))
    dataset = model_dataset(model, data_dir, cfg.data.verify)
    data_dir = dataset.root
    train_eps, _ = dataset.split(trained.data.val_fraction)
    per_episode = dataset.episode_length + 1
    keep = train_eps[: max(1, cfg.graph.max_nodes * cfg.graph.stride // per_episode)]
    start = time.perf_counter()
    z = encode_episodes(model, dataset, keep)  # [E, T+1, D]
    graph = build_graph(z, cfg.graph)
    # where the nodes came from: graph.episode indexes these episodes of this data set
    graph.config["data"] = {"dir": str(data_dir), "episodes": [int(e) for e in keep]}
    head, info = fit_distance(graph, cfg.distance, seed=cfg.seed, show_progress=cfg.progress)
    out = Path(model.info["path"]).parent
    graph.save(out / GRAPH_FILE)
    summary = {
        "checkpoint": model.info["path"],
        "data_dir": str(data_dir),
        "nodes": graph.size,
        "edges": int(len(graph.src)),
        "step_scale": graph.step_scale,
        "seconds": round(time.perf_counter() - start, 1),
        **info,
        "monotone_share": monotone_share(info["by_offset"]),
    }
    save_distance(out / FILE, head, cfg.distance, summary)
    offsets = ", ".join(f"{k}: {v:.1f}" for k, v in info["by_offset"].items())
    print(
        f"{out / GRAPH_FILE}: {graph.size} nodes, {len(graph.src)} edges\n"
        f"{out / FILE}: mean learned distance (decisions) by trajectory offset {{{offsets}}}"
    )
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from worldmodel.runtime.cli import run_command

    return run_command(
        build,
        argv,
        config_name="distance",
        schema=DistanceCommandConfig,
        usage=USAGE,
        name="worldmodel.distance",
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
