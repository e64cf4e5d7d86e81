"""``python -m agents.evaluation.goals``: plan toward your own goal images in your own env.

    python -m agents.evaluation.goals checkpoint=PATH env_id=worldmodel/Reacher-v0 \\
        goals=goals.npz decisions=50

Any Gymnasium env id whose observations are RGB frames (``uint8 [H, W, 3]``) will do; frames
of another size are resized to the model's. ``goals`` is a ``.npz`` whose array ``goals`` holds
one goal image per episode, ``uint8 [N, H, W, 3]``. Episode i starts from ``env.reset(seed=
seed + i)`` and lasts ``decisions`` steps (or until the env ends it). Such an env has no
success test of ours, so each episode reports the embedding distance of its last frame to its
goal image (and ``info["is_success"]`` where the env gives one). Writes ``goals.json``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from agents.planners.cost import CostConfig
from worldmodel.config import RunConfig
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.progress import progress as progress_bar
from worldmodel.runtime.provenance import git_commit
from worldmodel.runtime.schema import check
from worldmodel.runtime.seeding import seed_everything


@dataclass
class GoalsConfig(RunConfig):
    """Settings of ``python -m agents.evaluation.goals``."""

    checkpoint: str = ""
    """World model to plan with (required)."""
    env_id: str = ""
    """Gymnasium id of an env whose observations are RGB frames (required)."""
    goals: str = ""
    """.npz with an array 'goals' of goal images, uint8 [N, H, W, 3] (required)."""
    decisions: int = 50
    """Steps of the env per episode (each one decision of the agent)."""
    seed: int = 0
    """Episode i resets the env with seed + i; also seeds the planner."""
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    """Latent planner (planner.samples=... etc.)."""
    cost: CostConfig = field(default_factory=CostConfig)
    """Goal cost of the latent planner."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("checkpoint", "env_id", "goals"):
            if not getattr(self, name):
                raise InputError(f"{name}= is required; see --help")
        if self.decisions < 1:
            raise InputError(f"decisions must be at least 1, got {self.decisions}")
        check(self, "", at_least={"seed": 0})


def _frames(x: np.ndarray, size: int, what: str) -> np.ndarray:
    """uint8 RGB frames ``[..., H, W, 3]`` resized to ``size`` (antialiased), or a clear error."""
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim < 3 or x.shape[-1] != 3:
        raise InputError(
            f"{what} must be uint8 RGB frames [..., H, W, 3], got {x.dtype} {x.shape}; for an env "
            "that renders, wrap it in gymnasium.wrappers.AddRenderObservation(env, render_only=True)"
        )
    if x.shape[-3:-1] == (size, size):
        return x
    from PIL import Image

    flat = x.reshape(-1, *x.shape[-3:])
    out = [
        np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BILINEAR)) for f in flat
    ]
    return np.stack(out).reshape(*x.shape[:-3], size, size, 3)


def reach_goals(cfg: GoalsConfig) -> dict:
    """Play one episode per goal image with the latent MPC agent; returns what goals.json holds."""
    import gymnasium

    import envs  # noqa: F401  (registers the worldmodel/ ids)
    from worldmodel.api import load

    path = Path(cfg.goals)
    try:
        with np.load(path, allow_pickle=False) as f:
            goal_images = f["goals"]
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: cannot read an array 'goals' from it ({e})") from None
    model = load(cfg.checkpoint, device=cfg.device)
    goal_images = _frames(goal_images, model.image_size, f"{path}['goals']")
    if goal_images.ndim != 4:
        raise InputError(f"{path}['goals'] must be [N, H, W, 3], got {goal_images.shape}")
    try:
        env = gymnasium.make(cfg.env_id)
    except gymnasium.error.Error as e:
        raise InputError(f"env_id={cfg.env_id!r}: {e}") from None
    seed_everything(cfg.seed)
    planner = make_planner(cfg.planner, model.action_dim, model.device)
    agent = LatentMPCAgent(model, planner, cost=cfg.cost, seed=cfg.seed)
    episodes: list[dict] = []
    dist: list[float] = []
    plan_ms: list[float] = []
    bar = progress_bar(total=len(goal_images), desc="goals", unit="ep", enabled=cfg.progress)
    for i, goal in enumerate(goal_images):
        obs, info = env.reset(seed=cfg.seed + i)
        agent.reset(goal)
        steps = 0
        for _ in range(cfg.decisions):
            action = agent.act(_frames(obs, model.image_size, f"{cfg.env_id} observations"))
            plan_ms.append(agent.last_plan_ms)
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
        with torch.no_grad():
            z = model.encode(np.stack([_frames(obs, model.image_size, "obs"), goal]))
        dist.append(float((z[0] - z[1]).norm()))
        episodes.append(
            {
                "steps": steps,
                "final_embedding_distance": dist[-1],
                "is_success": info.get("is_success"),
            }
        )
        bar.update(1)
    bar.close()
    env.close()
    result = {
        "env_id": cfg.env_id,
        "goals": str(path),
        "checkpoint": str(Path(model.info["path"]).resolve()),
        "episodes": episodes,
        "mean_final_embedding_distance": float(np.mean(dist)),
        "plan_ms_median": float(np.median(plan_ms)),
        "planner": asdict(cfg.planner),
        "cost": asdict(cfg.cost),
        "seed": cfg.seed,
        "git_commit": git_commit(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out = Path(cfg.run_dir or Path("runs") / "goals" / Path(cfg.checkpoint).parent.name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "goals.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(episodes)} goal images in {cfg.env_id}: mean final embedding distance "
        f"{result['mean_final_embedding_distance']:.3f}; results: {out / 'goals.json'}"
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    from worldmodel.runtime.cli import run_command

    return run_command(
        reach_goals,
        argv,
        config_name="goals",
        schema=GoalsConfig,
        usage=__doc__ or "",
        name="agents.evaluation.goals",
    )


if __name__ == "__main__":
    main(sys.argv[1:])
