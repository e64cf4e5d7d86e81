"""Typed configuration of the worldmodel commands: one schema per command (collect, train,
probe), each built from the sections it uses and the shared run section.

Every field has one line of doc (shown by ``--help``) and is checked at start-up, so a typo such
as ``train.stpes=10`` or a bad value such as ``train.batch_size=0`` fails before any work, naming
the field. YAML files under ``configs/`` only pick values (world, preset); derived values (action
dim, image shape) come from the env at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from worldmodel.runtime.errors import ConfigError
from worldmodel.runtime.schema import RUNTIME, check, choices

WORLDS = ("reacher", "point_mass", "wall", "dmc")
"""The worlds of ``envs.make`` (a test keeps this equal to ``envs.WORLDS``)."""


@dataclass
class EnvConfig:
    name: str = field(default="reacher", metadata=choices(*WORLDS))
    """World: reacher | point_mass | wall | dmc (any dm_control domain/task)."""
    image_size: int = 64
    """Side of the square RGB frames the agent sees, in pixels."""
    action_repeat: int = 5
    """Physics control steps each action is held for (one decision)."""
    camera_id: int = 0
    """Camera rendered for observations and goal images."""
    target_size: str = field(default="easy", metadata=choices("easy", "hard"))
    """reacher only: dm_control target size, easy | hard."""
    draw_target: bool = False
    """reacher only: draw the target disk (docs/protocol.md pose tasks hide it)."""
    domain: str | None = None
    """dmc only: dm_control domain, e.g. cartpole."""
    task: str | None = None
    """dmc only: dm_control task, e.g. swingup."""

    def __post_init__(self) -> None:
        check(self, "env", at_least={"image_size": 16, "action_repeat": 1, "camera_id": 0})
        if self.name == "dmc" and not (self.domain and self.task):
            raise ConfigError("env=dmc needs env.domain and env.task, e.g. env.domain=cartpole")


@dataclass
class DataConfig:
    dir: str | None = None
    """Data set folder; None = a folder under $WORLDMODEL_CACHE (~/.cache/worldmodel) named after the settings."""
    episodes: int | None = None
    """Episodes to collect; None = the world's default (:data:`WORLD_DATA_RECIPES`): 1200 for dm_control's swimmer/swimmer6, 300 elsewhere."""
    episode_length: int = 100
    """Decisions (actions) per episode; each episode stores episode_length + 1 frames."""
    shard_episodes: int = 10
    """Episodes per shard file (the unit of atomic writes, resume and parallel work)."""
    workers: int = field(default=0, metadata=RUNTIME)
    """Worker processes for collection; 0 = one per CPU core."""
    policy: str = "random"
    """Collection policy: 'random' (uniform actions held for 1..persistence decisions) or 'module:factory'."""
    persistence: int = 4
    """random policy: each action is held for a uniform number of decisions in 1..persistence."""
    verify: bool = field(default=True, metadata=RUNTIME)
    """Check every shard's checksum when a data set is loaded."""
    on_device: bool | None = field(default=None, metadata=RUNTIME)
    """Hold the training episodes in the training device's memory and draw batches there (the same batches as from disk); None = on for a GPU when they take at most half its free memory, off on a CPU."""
    hindsight: float = 0.0
    """Share of episodes whose goal marker sits, all episode long, where the controlled body is at one random step (frames re-rendered; point_mass, reacher with the target drawn): the data then shows what the task's goal images show."""
    marker_jitter: float | None = None
    """Share of episodes whose goal marker is drawn at an independent random place in every frame, as the world draws it (frames re-rendered; point_mass, reacher with the target drawn, dm_control tasks with a visible target): an unpredictable marker gives the embedding no reason to code it. None = the world's default: all episodes (1 - data.hindsight) for reacher with its target drawn (env.draw_target=true, and env=dmc env.domain=reacher) and point_mass, where it was measured to win; 0 elsewhere."""
    val_fraction: float = 0.1
    """Share of episodes held out for validation and probes."""
    train_episodes: int | None = None
    """Train on the first N training episodes only (data-size sweeps); None = all of them."""
    seed: int | None = None
    """Seed of the episodes; None = the run's seed. Set it to train other seeds on one data set (seed=1 data.seed=0)."""

    def __post_init__(self) -> None:
        check(
            self,
            "data",
            at_least={
                "episodes": 1,
                "episode_length": 1,
                "shard_episodes": 1,
                "workers": 0,
                "hindsight": 0,
                "seed": 0,
            },
            above={"val_fraction": 0},
            below={"val_fraction": 1},
        )
        if self.train_episodes is not None and self.train_episodes < 1:
            raise ConfigError(f"data.train_episodes must be >= 1, got {self.train_episodes}")
        for name in ("hindsight", "marker_jitter"):
            share = getattr(self, name)
            if share is not None and not 0 <= share <= 1:
                raise ConfigError(f"data.{name} is a share of episodes, in [0, 1]; got {share}")
        if self.marker_jitter is not None and self.hindsight + self.marker_jitter > 1:
            raise ConfigError(
                f"data.hindsight={self.hindsight} and data.marker_jitter={self.marker_jitter} "
                "are shares of disjoint episodes: their sum must be at most 1"
            )
        if self.policy == "random":
            check(self, "data", at_least={"persistence": 1})
        elif self.policy.count(":") != 1 or not all(self.policy.split(":")):
            raise ConfigError(
                f"data.policy={self.policy!r} is neither 'random' nor 'package.module:factory'; "
                f"e.g. data.policy=mypkg.policies:make_policy"
            )


GENERIC_DATA_RECIPE: dict[str, Any] = {"episodes": 300}
"""The data fields a world may choose (left None), as every world without a data recipe has them."""
WORLD_DATA_RECIPES: dict[str, dict[str, Any]] = {
    # dm_control swimmer/swimmer6 with its model and training recipes (the contrast at weight 10,
    # refit 800 steps), 3000 steps: 600 random episodes instead of 300 read the pose at R² 0.78
    # against 0.73, roll out 4.20x against 3.02x copy-last at 5 steps and plan dmc-generic at 65.0%
    # (58.2-71.3) against 48.0% (41.2-54.9); with training seed 1 (same data), 59.5% (52.6-66.1)
    # against 43.5% (36.8-50.4), 200 episodes each (docs/results-log.md, "swimmer: the contrast at
    # weight 10 on 600 episodes"). 900 episodes instead of 600 meet the rollout target on both
    # training seeds: 5.79x / 5.46x against 4.20x / 4.19x, pose R² 0.82 / 0.83 against 0.78 / 0.78,
    # dmc-generic 68.0% / 64.5% against 65.0% / 59.5% (within noise of each other, 200 episodes
    # each; docs/results-log.md, "swimmer: 900 episodes"). Collection from scratch takes about 38
    # minutes on 2 cores instead of 12 for 300; training about 25. With 6000 steps, 1200 episodes
    # plan 77.5% (71.2-82.7) against 74.5% (68.0-80.0), within noise; with the 9000 steps of
    # WORLD_TRAIN_RECIPES, 81.5% / 77.5% / 82.0% (training seeds 0 / 1 / 2, 80.3% over the three;
    # docs/results-log.md, "swimmer: 9000 steps on 1200 episodes"). Growing 900 episodes to 1200
    # takes about 10 minutes.
    "dmc-swimmer-swimmer6": {"episodes": 1200},
}
"""Each world's data fields where a JEPA trained on them measured better than on
:data:`GENERIC_DATA_RECIPE`, keyed by :func:`env_key` like :data:`WORLD_RECIPES`."""


def world_data(env: EnvConfig, data: DataConfig) -> DataConfig:
    """``data`` with the world's defaults filled in (``data.marker_jitter=None``): jitter in every
    episode not given to hindsight for reacher with its target drawn, in both worlds that show it
    (``env=reacher env.draw_target=true`` and ``env=dmc env.domain=reacher``), where the default
    recipe coded the target instead of the arm (within-episode share 0.06-0.10) and jitter fixed
    it (0.92-0.93, joint-angle probe R² 0.99; README, Results); likewise for point_mass, where it
    is part of the world's recipe (:data:`WORLD_RECIPES`); 0 elsewhere. ``data.episodes=None``
    takes the world's size (:data:`WORLD_DATA_RECIPES`)."""
    if data.episodes is None:
        recipe = {**GENERIC_DATA_RECIPE, **WORLD_DATA_RECIPES.get(env_key(env), {})}
        data = replace(data, **recipe)
    if data.marker_jitter is not None:
        return data
    shows_target = (
        (env.name == "reacher" and env.draw_target)
        or (env.name == "dmc" and env.domain == "reacher")
        or env.name == "point_mass"
    )
    return replace(data, marker_jitter=1.0 - data.hindsight if shows_target else 0.0)


GENERIC_RECIPE: dict[str, Any] = {
    "encoder": "cnn",
    "sigreg_weight": 0.1,
    "history": 2,
    "action_history": False,
    "contrast_weight": 0.0,
    "contrast_temperature": 0.1,
}
"""The model fields a world may choose (left None), as every world without a recipe has them."""
WORLD_RECIPES: dict[str, dict[str, Any]] = {
    # On its revision-2 data (marker jittered), 3000 steps, against the generic CNN: position probe
    # R² 0.92 against 0.33, 5-step rollout 1.9x against 0.9x copy-last; surprise AUC push 0.904 and
    # teleport 0.996, where adding the temporal term scored 0.674 and 0.701 (docs/results-log.md,
    # "Each world's recipe"). SIGReg at 0.03 instead of 0.1 reads the position at 0.97 (0.92), rolls
    # out 2.1x (1.9x) and detects pushes at 0.928 (0.904), 3000 steps each. A history of 4 frames
    # and the 3 actions between them rolls out 3.4x (3.9x on data whose marker stays put), where 4
    # frames alone reach 2.6x, reading the position at 0.90. With those, SIGReg at 0.01 reads it at
    # 0.985, rolls out 4.7x (5.1x) and detects pushes at 0.962 (0.940 at 0.03); point_mass-goal
    # stays at 0 of 50 either way. On revision-3 data, 3000 steps, SIGReg at 0.003 instead of 0.01
    # rolls out 6.4x (7.5x on data whose marker stays put) against 4.0x (4.4x) and reads the
    # position at 1.00 (0.98); a peak learning rate of 2e-3 instead reaches 4.7x (4.6x).
    "point_mass": {
        "encoder": "keypoints",
        "sigreg_weight": 0.003,
        "history": 4,
        "action_history": True,
    },
    # Target hidden (reacher-pose's world), same data and 3000 steps, against the generic
    # recipe: the last action between the frames and SIGReg at 0.03 predict one step 29.9x
    # below copy-last against 14.4x (5 steps 31.0x, 13.6x), read the joints at R² 0.99 (0.95)
    # and keep reacher-pose at 98.5% (200 episodes); either alone: 23.7x, or 19.6x.
    "reacher": {
        "sigreg_weight": 0.03,
        "action_history": True,
    },
    # dm_control cheetah/run, same data and 3000 steps, against the generic CNN: the CNN's features
    # beside keypoints read qpos at R² 0.86 against 0.78 (the front foot 0.92 against 0.49) and plan
    # dmc-generic at 99.5% against 96.0% (200 episodes each); rollout 5.4x against 7.2x. At SIGReg
    # 0.01 the same encoder reads 0.87 and plans 32.0% (docs/results-log.md).
    "dmc-cheetah-run": {
        "encoder": "cnn_keypoints",
    },
    # dm_control swimmer/swimmer6, same data (300 random episodes, seed 0) and 3000 steps, with its
    # training recipe (WORLD_TRAIN_RECIPES) against the generic one: see there. Beside it, SIGReg
    # 0.01 rolls out 2.27x against 1.78x and plans 18.5% against 17.0% (the same within noise),
    # SIGReg 0.03 1.79x and 15.0%; cnn_keypoints read the same at step 1000 (docs/results-log.md).
    # The contrast at temperature 0.01 instead of 0.1 reads the pose at R² 0.68 against 0.35 (each
    # joint 0.75-0.81 against 0.27-0.38) and plans 26.0% (20.4-32.5) against 17.0% (12.4-22.8), 200
    # episodes each, one seed (17.5% on the episodes of seed 1, so the planning gain is not
    # established); it rolls out 1.43x against 1.78x; trained with seed 1 it reads 0.67, rolls out
    # 1.37x and plans 16.5%, so the gain is in the probe only. At 0.03: 0.36, 22.5%, 1.64x; at
    # 0.003, 0.56 and 0.89x; 0.3 was behind at step 1000 (docs/results-log.md, "swimmer: a sharper
    # contrast"). With the refit of WORLD_TRAIN_RECIPES, the contrast at weight 10 instead of 1
    # reads qpos at 0.62 / 0.58 against 0.51 / 0.48 (training seeds 0 / 1), rolls out 3.02x / 2.98x
    # against 2.54x / 2.62x and plans dmc-generic at 48.0% / 43.5% against 41.0% / 33.0%, 200
    # episodes each; weight 3: 0.67 / 0.50, 2.82x / 2.74x, 46.0% / 41.0% (docs/results-log.md,
    # "swimmer: a stronger contrast"). On 1200 episodes trained 9000 steps with the refit, SIGReg
    # at 0.03 instead of 0.1 plans dmc-generic at 83.2% (80.9-85.2) against 79.5% (77.1-81.7) on
    # the same 1200 episodes (training seeds 0-2, evaluation seeds 0 and 1; 141 episodes won, 97
    # lost, exact McNemar p = 0.005; each training seed ahead, by 4.5 / 5.25 / 1.25 points), rolls
    # out 7.23x / 6.89x / 6.73x against 6.01x / 5.89x / 5.72x and reads the pose at 0.865 / 0.861
    # / 0.855 against 0.858 / 0.854 / 0.850 (docs/results-log.md, "swimmer: SIGReg at 0.03, its
    # new default", and "a third training seed of SIGReg at 0.03").
    "dmc-swimmer-swimmer6": {
        "contrast_weight": 10.0,
        "contrast_temperature": 0.01,
        "sigreg_weight": 0.03,
    },
}
"""Each world's default JEPA recipe where one measured better than :data:`GENERIC_RECIPE`,
keyed by :func:`env_key` (so reacher with its target drawn, "reacher-target", is measured apart
from reacher)."""


GENERIC_TRAIN_RECIPE: dict[str, Any] = {
    "steps": 3000,
    "rollout_steps": 3,
    "shift": 0,
    "refit_steps": 0,
}
"""The training fields a world may choose (left None), as every world without a recipe has them."""
WORLD_TRAIN_RECIPES: dict[str, dict[str, Any]] = {
    # dm_control swimmer/swimmer6 with its model recipe of then (the contrast within each sequence
    # at weight 1), same data and 3000 steps: 6 rollout steps (8 frames a sequence) plan dmc-generic
    # at 17.0% (12.4-22.8) against 6.5% (3.8-10.8) with 3, and the generic recipe 2.0%, 200 episodes
    # each; pose probe R² 0.35 against 0.37 and 0.15, 5-step rollout 1.78x against 1.35x and 1.01x
    # copy-last (docs/results-log.md, "The contrast where a drawn target fills the embedding"). A
    # step costs about 1.6 times as much. 8 rollout steps (10 frames) read the same pose and rolled
    # out slower at step 2000 (1.47x against 1.72x), so 6 stays. A refit of the predictor alone for
    # 800 steps after the joint training (about 20 s here) rolls out 2.54x against 1.43x copy-last
    # at 5 steps and plans dmc-generic at 41.0% (34.4-47.9) against 26.0% (20.4-32.5), 200 episodes
    # each, the encoder unchanged (pose R² 0.68); with training seed 1, 33.0% (26.9-39.8) against
    # 16.5% (12.0-22.3); the refit tool on a second model (inverse dynamics at 1.0) gave 41.0%
    # against 27.0% (docs/results-log.md, "swimmer: the predictor refit alone"). With the contrast
    # at weight 10 on 900 episodes, 6000 steps instead of 3000 (the cosine schedule stretched) plan
    # dmc-generic at 74.5% (68.0-80.0) / 71.5% (64.9-77.3) against 68.0% / 64.5% (training seeds 0 /
    # 1, 200 episodes each; 73.0% against 66.3% pooled), pose R² 0.84 / 0.85 against 0.82 / 0.83,
    # 5-step rollout 6.13x / 5.71x against 5.79x / 5.46x copy-last, for about 50 minutes of training
    # on 2 CPU cores instead of 25 (docs/results-log.md, "swimmer: twice the training steps on 900
    # episodes"). On 1200 episodes, 9000 steps instead of 6000 plan 81.5% (75.5-86.3) against 77.5%
    # (71.2-82.7), 200 episodes each; a second training seed plans 77.5%, a third 82.0%: 80.3%
    # (77.0-83.3) over the three (600 episodes of evaluation seed 0). Over two training seeds each
    # (400 episodes), 79.5% against 73.0% for the 6000-step models on 900 episodes. Pose R² 0.86
    # against 0.85, 5-step rollout 6.01x against 6.19x, within-episode share 0.53 against 0.46.
    # About 80 minutes of training on 2 CPU cores (docs/results-log.md, "swimmer: 9000 steps on
    # 1200 episodes").
    "dmc-swimmer-swimmer6": {"steps": 9000, "rollout_steps": 6, "refit_steps": 800},
}
"""Each world's training fields where a JEPA trained with them measured better than with
:data:`GENERIC_TRAIN_RECIPE`, keyed by :func:`env_key` like :data:`WORLD_RECIPES`."""


def world_train(world: str | None, objective: str, train: TrainConfig) -> TrainConfig:
    """``train`` with the fields left None filled by ``world``'s training recipe
    (:data:`WORLD_TRAIN_RECIPES`; a JEPA's only, as :func:`world_recipe`)."""
    recipe = dict(GENERIC_TRAIN_RECIPE)
    if world is not None and objective == "jepa":
        recipe.update(WORLD_TRAIN_RECIPES.get(world, {}))
    return replace(train, **{k: v for k, v in recipe.items() if getattr(train, k) is None})


def sequence_length(cfg: Config) -> int:
    """Frames in one training sequence: the predictor's history, then the steps it predicts."""
    # Config fills in the world's recipes
    assert cfg.model.history is not None and cfg.train.rollout_steps is not None
    return cfg.model.history + cfg.train.rollout_steps


def world_recipe(world: str | None, model: ModelConfig) -> ModelConfig:
    """``model`` with the fields left None filled by ``world``'s recipe (:data:`WORLD_RECIPES`;
    a JEPA's only: a reconstruction model, or a model without a world, takes the generic one)."""
    recipe = dict(GENERIC_RECIPE)
    if world is not None and model.objective == "jepa":
        recipe.update(WORLD_RECIPES.get(world, {}))
    if model.history == 1:  # one frame has no actions between frames: a recipe's gives way
        recipe["action_history"] = False
    return replace(model, **{k: v for k, v in recipe.items() if getattr(model, k) is None})


@dataclass
class ModelConfig:
    objective: str = field(default="jepa", metadata=choices("jepa", "reconstruction"))
    """Training objective: jepa (predict embeddings, with an anti-collapse regularizer) |
    reconstruction (a decoder; predictions judged as pixels of the next frames, no regularizer)."""
    encoder: str | None = field(
        default=None, metadata=choices("cnn", "vit", "keypoints", "cnn_keypoints", "grid")
    )
    """Encoder: cnn | vit | keypoints (spatial softmax: D/2 keypoints, each an x and a y) |
    cnn_keypoints (both: D/2 CNN features beside D/4 keypoints) |
    grid (a spatial latent: a grid x grid map of D / grid² channels, flattened). None = the
    world's default (:data:`WORLD_RECIPES`): keypoints for point_mass, cnn_keypoints for
    dm_control's cheetah/run, cnn elsewhere."""
    grid: int = 8
    """grid encoder and conv predictor: cells per side of the spatial latent (D must be a
    multiple of grid²; the image side must be grid times a power of two)."""
    channels: int = 32
    """Base channel width of the CNN encoder (doubles per stage) or width of the ViT."""
    embed_dim: int = 64
    """Embedding size D returned by encode()."""
    keypoint_temperature: float = 1.0
    """keypoints and cnn_keypoints: the spatial softmax's initial inverse temperature (it is
    learned from there). At 1 a trained reacher model's attention stays nearly uniform (its
    largest weight about 0.005 of a 32x32 map), each keypoint a soft moment of the whole frame;
    higher starts each map peaked on a part of the scene."""
    patch_size: int = 8
    """vit only: patch side in pixels."""
    vit_depth: int = 4
    """vit only: transformer blocks."""
    predictor: str = field(default="mlp", metadata=choices("mlp", "transformer", "conv"))
    """Predictor: mlp | transformer | conv (keeps the grid encoder's grid; needs encoder=grid)."""
    history: int | None = None
    """Embeddings of past frames the predictor reads (a single frame shows no velocity).
    None = the world's default (:data:`WORLD_RECIPES`): 4 for point_mass, 2 elsewhere."""
    action_history: bool | None = None
    """The predictor also reads the history - 1 actions taken between the history's frames,
    not only the next one: where the motion of a step is a fraction of a pixel (point_mass), the
    velocity they gave is easier to tell from them than from the embeddings' differences.
    None = the world's default (:data:`WORLD_RECIPES`): true for point_mass and reacher with its
    target hidden, false elsewhere (and false wherever model.history=1)."""
    hidden: int = 256
    """Hidden width of the predictor."""
    depth: int = 3
    """Layers (mlp) or blocks (transformer) of the predictor."""
    regularizer: str = field(default="sigreg", metadata=choices("sigreg", "vicreg", "ema"))
    """Anti-collapse of the jepa objective: sigreg | vicreg | ema (reconstruction uses none)."""
    sigreg_weight: float | None = None
    """sigreg: weight of the Gaussianity penalty. None = the world's default
    (:data:`WORLD_RECIPES`): 0.003 for point_mass, 0.03 for reacher with its target hidden and
    for dm_control's swimmer/swimmer6, 0.1 elsewhere."""
    sigreg_projections: int = 256
    """sigreg: random 1-D projections per step."""
    vicreg_std_weight: float = 1.0
    """vicreg: weight of the variance hinge."""
    vicreg_cov_weight: float = 0.04
    """vicreg: weight of the off-diagonal covariance penalty."""
    idm_weight: float = 0.1
    """Inverse-dynamics loss weight (predict the action from consecutive embeddings), under
    either objective; 0 = off."""
    ema_decay: float = 0.99
    """ema: decay of the target encoder."""
    temporal_weight: float = 0.0
    """Weight of SIGReg on each sequence's embeddings centred over time, which only what
    changes within an episode can satisfy (what is constant per episode, e.g. a drawn target,
    cannot fill the embedding); 0 = off."""
    contrast_weight: float | None = None
    """Weight of the action-conditioned contrast within each sequence: each prediction must
    pick out its own next frame among the frames of its sequence (``objectives.sequence_contrast``),
    which only what the actions changed can do; 0 = off. None = the world's default
    (:data:`WORLD_RECIPES`): 1 for dm_control's swimmer/swimmer6, 0 elsewhere. Where the
    embedding starts with nothing that moves within an episode (reacher with its target drawn,
    not jittered), all of a sequence's frames look alike, the term's gradient nearly vanishes
    and it sits at log L; the temporal term gives it a foothold (docs/results-log.md, "The
    contrast where a drawn target fills the embedding")."""
    contrast_temperature: float | None = None
    """Temperature of that contrast, per embedding dimension (logits -|pred - z|^2 / (D * T)):
    lower picks each frame out among its neighbours more sharply. None = the world's default
    (:data:`WORLD_RECIPES`): 0.01 for dm_control's swimmer/swimmer6, 0.1 elsewhere."""
    contrast_trains_predictor: bool = True
    """Whether the contrast's gradient reaches the predictor's weights. It always reaches the
    encoder (through the embeddings the predictions start from and the frames they must tell
    apart); false fits the predictor by the prediction errors alone, the contrast seeing it as
    fixed (one more predictor pass a step). On swimmer6 the contrast's gradient on the
    predictor was 8x the rollout error's, yet with false the contrast stays at log L (a guess),
    the embedding codes nothing that moves (pose R² 0.14 at step 2000 against 0.67) and the
    predictor copies the last frame: it is the predictor the contrast trains that pulls the
    encoder (docs/results-log.md, "swimmer: the predictor refit alone"); train.refit_steps fits
    it after."""

    def __post_init__(self) -> None:
        check(
            self,
            "model",
            at_least={
                "channels": 1,
                "embed_dim": 1,
                "patch_size": 1,
                "vit_depth": 1,
                "history": 1,
                "grid": 1,
                "hidden": 1,
                "depth": 1,
                "sigreg_weight": 0,
                "sigreg_projections": 1,
                "vicreg_std_weight": 0,
                "vicreg_cov_weight": 0,
                "idm_weight": 0,
                "ema_decay": 0,
                "temporal_weight": 0,
                "contrast_weight": 0,
            },
            above={"contrast_temperature": 0, "keypoint_temperature": 0},
            below={"ema_decay": 1},
        )
        if self.encoder == "grid" and self.embed_dim % (self.grid * self.grid):
            raise ConfigError(
                f"model.embed_dim={self.embed_dim} is not a multiple of the model.grid="
                f"{self.grid} cells ({self.grid}x{self.grid}); set model.embed_dim="
                f"{8 * self.grid * self.grid} (8 channels a cell) or change model.grid"
            )
        if self.encoder == "cnn_keypoints" and self.embed_dim % 4:
            raise ConfigError(
                f"model.embed_dim={self.embed_dim} must be a multiple of 4 for "
                "model.encoder=cnn_keypoints (half CNN features, half keypoint x and y); "
                f"set model.embed_dim={max(4, self.embed_dim // 4 * 4)}"
            )
        if self.action_history and self.history is not None and self.history < 2:
            raise ConfigError(
                "model.action_history=true reads the actions between the history's frames, and "
                f"model.history={self.history} has none; set model.history=2 or more"
            )
        if self.predictor == "conv" and self.encoder != "grid":
            raise ConfigError(
                f"model.predictor=conv predicts a grid and needs model.encoder=grid, got "
                f"model.encoder={self.encoder}; set model.encoder=grid or model.predictor=mlp"
            )
        if self.objective == "reconstruction":
            self._check_reconstruction()

    def _check_reconstruction(self) -> None:
        """Refuse what a pixel-reconstruction model cannot have, naming the fields."""
        if self.encoder not in (None, "cnn"):
            raise ConfigError(
                f"model.objective=reconstruction needs model.encoder=cnn (its decoder mirrors "
                f"the CNN), got model.encoder={self.encoder}"
            )
        if self.regularizer == "ema":
            raise ConfigError(
                "model.objective=reconstruction cannot use model.regularizer=ema: the pixel "
                "loss keeps the embedding from collapsing, and there is no target encoder to "
                "predict; drop model.regularizer or use model.objective=jepa"
            )
        if self.temporal_weight > 0:
            raise ConfigError(
                f"model.objective=reconstruction has no embedding regularizer, so "
                f"model.temporal_weight={self.temporal_weight} would do nothing; set it to 0 "
                f"or use model.objective=jepa"
            )
        if self.contrast_weight:
            raise ConfigError(
                f"model.objective=reconstruction judges predictions as pixels, so "
                f"model.contrast_weight={self.contrast_weight} (a contrast between embeddings) "
                f"would do nothing; set it to 0 or use model.objective=jepa"
            )


@dataclass
class TrainConfig:
    steps: int | None = None
    """Optimizer steps. None = the world's default (:data:`WORLD_TRAIN_RECIPES`): 9000 for
    dm_control's swimmer/swimmer6, 3000 elsewhere; a preset's count or an override wins."""
    batch_size: int = 48
    """Sequences per step (per rank under DDP)."""
    rollout_steps: int | None = None
    """K: autoregressive rollout steps in the loss (teacher-forced step included). None = the
    world's default (:data:`WORLD_TRAIN_RECIPES`): 6 for dm_control's swimmer/swimmer6,
    3 elsewhere."""
    shift: int | None = None
    """Random-shift augmentation, as DrQ and TD-MPC shift pixel observations: each training
    sequence is moved by up to N pixels along each axis (edge pixels repeated), one offset for
    all its frames, so the motion between them stays the world's. 0 = off. None = the world's
    default (:data:`WORLD_TRAIN_RECIPES`): 0 everywhere. On swimmer6 a shift of 4 trailed the
    default at step 1500 (pose R² 0.29 against 0.65; docs/results-log.md, "swimmer: more data")."""
    refit_steps: int | None = None
    """After the joint training, fit the predictor alone for N steps (``worldmodel.refit``:
    AdamW at train.lr, batches of 256 windows, the mean squared error of train.rollout_steps
    open-loop steps) on the frozen encoder's embeddings of the training episodes. The contrast
    within each sequence can dominate the predictor's gradient (8x the rollout error's on
    swimmer6), so its fit lags what the embedding allows; there a refit of 800 steps (about a
    minute on one CPU thread) lifted the 5-step rollout from 1.45x to 2.63x copy-last
    (docs/results-log.md, "swimmer: the predictor refit alone"). 0 = off. None = the world's default
    (:data:`WORLD_TRAIN_RECIPES`): 800 for dm_control's swimmer/swimmer6, 0 elsewhere."""
    lr: float = 1e-3
    """AdamW peak learning rate (cosine decay after warmup)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup: int = 100
    """Linear warmup steps."""
    grad_clip: float = 1.0
    """Gradient norm clip; 0 = off."""
    amp: str = field(default="auto", metadata=choices("auto", "bf16", "none", runtime=True))
    """Autocast dtype: auto (bf16 on CUDA, off on CPU) | bf16 | none."""
    compile: bool = field(default=False, metadata=RUNTIME)
    """Wrap the model in torch.compile."""
    log_every: int = field(default=50, metadata=RUNTIME)
    """Steps between metric lines."""
    eval_every: int = field(default=500, metadata=RUNTIME)
    """Steps between diagnostics on held-out episodes."""
    ckpt_every: int = field(default=500, metadata=RUNTIME)
    """Steps between periodic checkpoints."""
    probe_episodes: int = field(default=30, metadata=RUNTIME)
    """Held-out episodes used by the diagnostics."""
    probe_fit_episodes: int = field(default=300, metadata=RUNTIME)
    """Training episodes the linear probes are fit on. A feature that is constant in an episode
    (the wall's door, a drawn target) has one value per episode, so a fit on few episodes
    overfits it: on wall the door read R² -0.11 when fit on 30 episodes and 0.98 on 270."""
    threads: int = field(default=0, metadata=RUNTIME)
    """CPU threads for torch; 0 = torch's default."""

    def __post_init__(self) -> None:
        check(
            self,
            "train",
            at_least={
                "steps": 1,
                "batch_size": 1,
                "rollout_steps": 1,
                "shift": 0,
                "refit_steps": 0,
                "weight_decay": 0,
                "warmup": 0,
                "grad_clip": 0,
                "log_every": 1,
                "eval_every": 1,
                "ckpt_every": 1,
                "probe_episodes": 1,
                "probe_fit_episodes": 1,
                "threads": 0,
            },
            above={"lr": 0},
        )


PRESETS = ("debug", "cpu", "gpu")


@dataclass
class RunConfig:
    """How a command runs, never what it computes: the section every command that writes a run
    folder shares. Its fields may differ between a run and its resumption."""

    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    run_dir: str | None = None
    """Run folder; None = a folder under runs/ named after the settings."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        check_device(self.device)


def check_device(device: str) -> None:
    """Refuse a ``device=`` setting that names no device."""
    kind, _, index = device.partition(":")
    if kind not in ("auto", "cpu", "cuda", "mps") or (index and not index.isdigit()):
        raise ConfigError(f"device={device!r} is not a device; use auto, cpu, cuda or cuda:N")


@dataclass
class LoggedRunConfig(RunConfig):
    """The run section of a command that logs metrics (train)."""

    logger: str = field(default="none", metadata=choices("none", "wandb"))
    """none | wandb (offline unless wandb_mode=online)."""
    wandb_mode: str = field(default="offline", metadata=choices("offline", "online", "disabled"))
    """wandb mode when logger=wandb: offline | online | disabled."""
    wandb_project: str = "worldmodel"
    """wandb project name."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, "")


@dataclass
class CollectConfig:
    """Settings of ``python -m worldmodel.collect``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The world the data comes from."""
    data: DataConfig = field(default_factory=DataConfig)
    """Offline data set."""
    preset: str = field(default="cpu", metadata=choices(*PRESETS))
    """Size preset: debug | cpu | gpu (set by choosing preset=...)."""
    seed: int = 0
    """Seed of the episodes (each shard seeds itself from seed and its index)."""
    progress: bool = field(default=True, metadata=RUNTIME)
    """Show progress bars."""

    def __post_init__(self) -> None:
        check(self, "", at_least={"seed": 0})
        self.data = world_data(self.env, self.data)


@dataclass
class Config(LoggedRunConfig):
    """Settings of ``python -m worldmodel.train``: the model's identity (env, data, model,
    train, preset, seed), stored in every checkpoint, and how this run goes."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The world the data comes from."""
    data: DataConfig = field(default_factory=DataConfig)
    """Offline data set."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Encoder, predictor and anti-collapse objective."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
    preset: str = field(default="cpu", metadata=choices(*PRESETS))
    """Size preset: debug | cpu | gpu (set by choosing preset=...)."""
    seed: int = 0
    """Seed for Python, NumPy, torch and the envs."""
    resume: bool = field(default=False, metadata=RUNTIME)
    """Continue an interrupted run from run_dir's last checkpoint."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, "", at_least={"seed": 0})
        self.data = world_data(self.env, self.data)
        self.model = world_recipe(env_key(self.env), self.model)
        self.train = world_train(env_key(self.env), self.model.objective, self.train)
        if self.model.encoder == "vit" and self.env.image_size % self.model.patch_size:
            raise ConfigError(
                f"env.image_size={self.env.image_size} is not a multiple of "
                f"model.patch_size={self.model.patch_size}"
            )
        if self.model.objective == "reconstruction" and self.env.image_size % 16:
            raise ConfigError(
                f"model.objective=reconstruction needs env.image_size a multiple of 16 (its "
                f"decoder mirrors the CNN's four stride-2 stages), got {self.env.image_size}"
            )


@dataclass
class ProbeData:
    dir: str | None = None
    """Data set folder; None = the one the model was trained on."""
    verify: bool = True
    """Check every shard's checksum when the data set is loaded."""


@dataclass
class ProbeSettings:
    probe_episodes: int = 30
    """Held-out episodes used by the diagnostics."""
    probe_fit_episodes: int = 300
    """Training episodes the linear probes are fit on (as ``TrainConfig.probe_fit_episodes``)."""

    def __post_init__(self) -> None:
        check(self, "train", at_least={"probe_episodes": 1, "probe_fit_episodes": 1})


@dataclass
class ProbeConfig(RunConfig):
    """Settings of ``python -m worldmodel.probe``: the world, model and data come from the
    checkpoint; run_dir defaults to the checkpoint's folder."""

    checkpoint: str | None = None
    """Checkpoint (file or run folder) to diagnose; required."""
    data: ProbeData = field(default_factory=ProbeData)
    """Data set to probe on."""
    train: ProbeSettings = field(default_factory=ProbeSettings)
    """Diagnostics size (train.probe_episodes, as in training)."""
    preset: str = field(default="cpu", metadata=choices(*PRESETS))
    """Size preset: debug | cpu | gpu (sets train.probe_episodes and train.probe_fit_episodes)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, "")


@dataclass
class ReportConfig:
    """Settings of ``python -m worldmodel.report``: pictures of a trained model, written into its
    run folder."""

    run_dir: str | None = None
    """Run folder of a training run (metrics.jsonl, checkpoint.pt); give this or checkpoint."""
    checkpoint: str | None = None
    """Checkpoint file (or its folder); the pictures go into its folder."""
    episode: int = 0
    """Held-out episode that rollout.png shows."""
    steps: int = 8
    """Decisions the predictor rolls forward open loop in rollout.png."""
    data_dir: str | None = None
    """Data set folder; None = the one the model was trained on."""
    device: str = "cpu"
    """Device that encodes the frames: auto | cpu | cuda | cuda:N."""

    def __post_init__(self) -> None:
        check_device(self.device)
        check(self, "", at_least={"episode": 0, "steps": 1})


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
