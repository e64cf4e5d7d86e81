"""Typed configuration schema for the worldmodel commands (collect, train, probe).

Every field has one line of doc. Hydra validates overrides against this schema, so a typo such
as ``train.stpes=10`` fails at start-up naming the field. YAML files under ``configs/`` only pick
values (world, preset); derived values (action dim, image shape) come from the env at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class EnvConfig:
    name: str = "reacher"
    """World: reacher | point_mass | wall | dmc (any dm_control domain/task)."""
    image_size: int = 64
    """Side of the square RGB frames the agent sees, in pixels."""
    action_repeat: int = 5
    """Physics control steps each action is held for (one decision)."""
    camera_id: int = 0
    """Camera rendered for observations and goal images."""
    target_size: str = "easy"
    """reacher only: dm_control target size, easy | hard."""
    draw_target: bool = False
    """reacher only: draw the target disk (PROTOCOL.md pose tasks hide it)."""
    domain: str | None = None
    """dmc only: dm_control domain, e.g. cartpole."""
    task: str | None = None
    """dmc only: dm_control task, e.g. swingup."""


@dataclass
class DataConfig:
    dir: str | None = None
    """Data set folder; None = a folder under $WORLDMODEL_CACHE (~/.cache/worldmodel) named after the settings."""
    episodes: int = 300
    """Episodes to collect."""
    episode_length: int = 100
    """Decisions (actions) per episode; each episode stores episode_length + 1 frames."""
    shard_episodes: int = 10
    """Episodes per shard file (the unit of atomic writes, resume and parallel work)."""
    workers: int = 0
    """Worker processes for collection; 0 = one per CPU core."""
    policy: str = "random"
    """Collection policy: 'random' (uniform actions held for 1..persistence decisions) or 'module:factory'."""
    persistence: int = 4
    """random policy: each action is held for a uniform number of decisions in 1..persistence."""
    verify: bool = True
    """Check every shard's checksum when a data set is loaded."""
    val_fraction: float = 0.1
    """Share of episodes held out for validation and probes."""


@dataclass
class ModelConfig:
    encoder: str = "cnn"
    """Encoder: cnn | vit."""
    channels: int = 32
    """Base channel width of the CNN encoder (doubles per stage) or width of the ViT."""
    embed_dim: int = 64
    """Embedding size D returned by encode()."""
    patch_size: int = 8
    """vit only: patch side in pixels."""
    vit_depth: int = 4
    """vit only: transformer blocks."""
    predictor: str = "mlp"
    """Predictor: mlp | transformer."""
    history: int = 2
    """Embeddings of past frames the predictor reads (a single frame shows no velocity)."""
    hidden: int = 256
    """Hidden width of the predictor."""
    depth: int = 3
    """Layers (mlp) or blocks (transformer) of the predictor."""
    regularizer: str = "sigreg"
    """Anti-collapse: sigreg | vicreg | ema."""
    sigreg_weight: float = 0.1
    """sigreg: weight of the Gaussianity penalty."""
    sigreg_projections: int = 256
    """sigreg: random 1-D projections per step."""
    vicreg_std_weight: float = 1.0
    """vicreg: weight of the variance hinge."""
    vicreg_cov_weight: float = 0.04
    """vicreg: weight of the off-diagonal covariance penalty."""
    idm_weight: float = 0.1
    """Inverse-dynamics loss weight (predict the action from consecutive embeddings); 0 = off."""
    ema_decay: float = 0.99
    """ema: decay of the target encoder."""


@dataclass
class TrainConfig:
    steps: int = 3000
    """Optimizer steps."""
    batch_size: int = 48
    """Sequences per step (per rank under DDP)."""
    rollout_steps: int = 3
    """K: autoregressive rollout steps in the loss (teacher-forced step included)."""
    lr: float = 1e-3
    """AdamW peak learning rate (cosine decay after warmup)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup: int = 100
    """Linear warmup steps."""
    grad_clip: float = 1.0
    """Gradient norm clip; 0 = off."""
    amp: str = "auto"
    """Autocast dtype: auto (bf16 on CUDA, off on CPU) | bf16 | none."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    log_every: int = 50
    """Steps between metric lines."""
    eval_every: int = 500
    """Steps between diagnostics on held-out episodes."""
    ckpt_every: int = 500
    """Steps between periodic checkpoints."""
    probe_episodes: int = 30
    """Held-out episodes used by the diagnostics."""
    threads: int = 0
    """CPU threads for torch; 0 = torch's default."""


@dataclass
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    """The world the data comes from."""
    data: DataConfig = field(default_factory=DataConfig)
    """Offline data set."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Encoder, predictor and anti-collapse objective."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
    preset: str = "cpu"
    """Size preset: debug | cpu | gpu (set by choosing preset=...)."""
    seed: int = 0
    """Seed for Python, NumPy, torch and the envs."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    run_dir: str | None = None
    """Run folder; None = runs/<env>-<preset>[-seedN]."""
    resume: bool = False
    """Continue an interrupted run from run_dir's last checkpoint."""
    logger: str = "none"
    """none | wandb (offline unless wandb_mode=online)."""
    wandb_mode: str = "offline"
    """wandb mode when logger=wandb: offline | online | disabled."""
    wandb_project: str = "worldmodel"
    """wandb project name."""
    checkpoint: str | None = None
    """probe: checkpoint to diagnose."""
    progress: bool = True
    """Show progress bars."""
    task: str | None = None
    """agents.evaluate: PROTOCOL.md task (typed in agents/)."""
    planner: Any = None
    """agents.evaluate: planner settings (typed in agents/)."""
    eval: Any = None
    """agents.evaluate: evaluation settings (typed in agents/)."""


def register(name: str = "worldmodel_schema", node: type = Config) -> None:
    """Register a schema with Hydra so YAML files can extend it."""
    ConfigStore.instance().store(name=name, node=node)


def env_kwargs(cfg: EnvConfig) -> dict[str, Any]:
    """Constructor arguments of ``envs.make(cfg.name, ...)`` for this world."""
    kwargs: dict[str, Any] = {
        "image_size": cfg.image_size,
        "action_repeat": cfg.action_repeat,
        "camera_id": cfg.camera_id,
    }
    if cfg.name == "reacher":
        kwargs.update(target_size=cfg.target_size, draw_target=cfg.draw_target)
    elif cfg.name == "dmc":
        kwargs.update(domain=cfg.domain, task=cfg.task)
    return kwargs


def env_key(cfg: EnvConfig) -> str:
    """A short readable name for a world and the settings that change its frames, e.g.
    ``reacher``, ``reacher-target`` (target drawn) or ``dmc-cartpole-swingup``."""
    if cfg.name == "dmc":
        return f"dmc-{cfg.domain}-{cfg.task}"
    if cfg.name == "reacher" and cfg.draw_target:
        return "reacher-target"
    return cfg.name


def world_key(world: str, kwargs: dict[str, Any]) -> str:
    """``env_key`` of ``world`` built with env constructor ``kwargs`` (a task's world)."""
    return env_key(EnvConfig(name=world, **kwargs))


def task_env_overrides(world: str, kwargs: dict[str, Any]) -> list[str]:
    """Config overrides (``env=reacher``, ``env.draw_target=true`` ...) that train a model on the
    frames of a task played in ``world`` with env constructor ``kwargs``."""
    return [f"env={world}"] + [
        f"env.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in kwargs.items()
    ]
