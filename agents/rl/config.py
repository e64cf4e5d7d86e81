"""Typed configuration of ``python -m agents.rl``: the run section, the world, the checkpoint
whose embeddings the policy reads, and the RL settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from worldmodel.config import EnvConfig, RunConfig
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.schema import check, choices

ALGOS = ("sac", "ppo")
REPRESENTATIONS = ("jepa", "pixels", "state")


@dataclass
class RLSettings:
    steps: int = 100_000
    """Env steps to train for: physics control steps, so a decision counts action_repeat of them."""
    eval_episodes: int = 10
    """Episodes of the final deterministic evaluation (their mean return is the result)."""
    episode_length: int = 1000
    """Env steps per episode (the dm_control suite's 1000; our envs never end by themselves)."""
    action_repeat: int = 0
    """Env steps each action is held for; 0 = the checkpoint's (jepa), else env.action_repeat."""
    frame_stack: int = 0
    """Frames the agent sees at once; 0 = 3 or model.history if longer (jepa), 3 (pixels), 1 (state)."""
    finetune: bool = False
    """jepa only: train the encoder with the policy (JEPAExtractor) instead of frozen embeddings."""
    trunk: int = 0
    """Width of a learned Linear + LayerNorm + tanh trunk in front of the policy's and critics'
    MLPs on flat features (jepa frozen, state), as DrQ and CURL put on their encoder; 0 = none."""
    buffer_size: int = 100_000
    """sac: replay buffer capacity in decisions (capped at the decisions of the run)."""
    learning_starts: int = 200
    """sac: decisions of uniform random actions before the first update (200 = one 1000-step episode at action repeat 5)."""
    gradient_steps: int = 1
    """sac: gradient steps per update (SB3's default 1)."""
    train_freq: int = 1
    """sac: decisions between updates (SB3's default 1); the update-to-data ratio is
    gradient_steps / train_freq."""
    critic_dropout: float | None = None
    """sac: dropout rate after each hidden layer of both Q networks; null (unset) = DroQ's 0.01 under
    sac (ppo has no Q networks; rl.evaluate takes the run's own); 0 = none."""
    critic_layer_norm: bool | None = None
    """sac: LayerNorm after each hidden layer of both Q networks (after the dropout, as DroQ);
    null (unset) = true under sac (ppo has no Q networks; rl.evaluate takes the run's own)."""
    batch_size: int = 256
    """Minibatch size (sac: per update; ppo: per gradient step)."""
    lr: float = 3e-4
    """Adam learning rate of the policy and value networks."""
    ppo_rollout: int = 2048
    """ppo: decisions collected per update (capped at the decisions of the run)."""
    evaluate: str | None = None
    """A trained agent (its agent.zip or run folder) to evaluate instead of training one: it
    plays rl.eval_episodes deterministic episodes from the env seed of a run's final evaluation
    (so its first episodes are that evaluation's) and writes evaluation-<episodes>.json beside it."""
    threads: int = 1
    """CPU threads for torch; small RL networks run fastest on 1 (0 = torch's default)."""


DROQ_CRITIC = (0.01, True)
"""SAC's critic by default: DroQ's dropout rate and layer norm (Hiraoka et al., 2022), chosen
on reacher-easy at 100,000 env steps (README, "A regularised critic")."""


def resolve_critic(rl: RLSettings, algo: str, recorded: dict | None) -> None:
    """Fill rl.critic_dropout and rl.critic_layer_norm where unset (None): a run's own
    (``recorded``, its result.json; runs from before these settings had SB3's plain critic),
    else :data:`DROQ_CRITIC` under sac and none under ppo."""
    if recorded is not None:
        default = (recorded.get("critic_dropout", 0.0), recorded.get("critic_layer_norm", False))
    else:
        default = DROQ_CRITIC if algo == "sac" else (0.0, False)
    if rl.critic_dropout is None:
        rl.critic_dropout = float(default[0])
    if rl.critic_layer_norm is None:
        rl.critic_layer_norm = bool(default[1])


HINTS = {
    "preset": "agents.rl has no size presets: set rl.steps= (e.g. rl.steps=2000 for a smoke run)",
    "data": "the policy learns online; the model (and its data) come from checkpoint=",
    "model": "the model comes from checkpoint=",
    "train": "the RL settings are rl.* (e.g. rl.steps=, rl.lr=)",
    "planner": "agents.rl learns a policy; planners belong to python -m agents.evaluate",
    "eval": "the final evaluation is rl.eval_episodes=",
    "logger": "agents.rl writes curve.csv, curve.png and result.json and does not log to wandb",
    "resume": "an RL run is not resumed; run it again",
}
"""What to use instead of the settings other commands have."""


@dataclass
class RLConfig(RunConfig):
    """Settings of ``python -m agents.rl``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """The world the agent plays (its own reward)."""
    checkpoint: str | None = None
    """representation=jepa: the world model (file or run folder); None = runs/<env>-cpu."""
    seed: int = 0
    """Seed for Python, NumPy, torch, SB3 and the envs."""
    algo: str = field(default="sac", metadata=choices(*ALGOS))
    """Stable-Baselines3 algorithm: sac | ppo."""
    representation: str = field(default="jepa", metadata=choices(*REPRESENTATIONS))
    """What the policy reads: jepa (embeddings of checkpoint=) | pixels (SB3's CNN) | state."""
    rl: RLSettings = field(default_factory=RLSettings)
    """Training and evaluation settings."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, "", at_least={"seed": 0})
        if self.representation == "pixels" and self.env.image_size < 36:
            raise InputError(
                f"representation=pixels needs env.image_size >= 36 (SB3's NatureCNN), got "
                f"{self.env.image_size}"
            )
        if self.rl.finetune and self.representation != "jepa":
            raise InputError("rl.finetune=true needs representation=jepa")
        for name in (
            "steps",
            "eval_episodes",
            "episode_length",
            "batch_size",
            "buffer_size",
            "gradient_steps",
            "train_freq",
        ):
            if getattr(self.rl, name) < 1:
                raise InputError(f"rl.{name} must be >= 1, got {getattr(self.rl, name)}")
        if self.rl.trunk and (self.representation == "pixels" or self.rl.finetune):
            raise InputError(
                "rl.trunk is a head on flat features (representation=jepa frozen, or state); "
                "pixels and rl.finetune=true have a CNN as their feature network"
            )
        if self.rl.critic_dropout is not None and not 0 <= self.rl.critic_dropout < 1:
            raise InputError(
                f"rl.critic_dropout is a rate in [0, 1), got {self.rl.critic_dropout} (DroQ uses 0.01)"
            )
        if self.algo != "sac" and (self.rl.critic_dropout or self.rl.critic_layer_norm):
            raise InputError(
                f"rl.critic_dropout and rl.critic_layer_norm regularise SAC's Q networks; "
                f"algo={self.algo} has none: set algo=sac or leave them unset"
            )
        if not self.rl.evaluate:  # rl.evaluate takes the run's own (agents.rl.train.evaluate)
            resolve_critic(self.rl, self.algo, recorded=None)
        for name in ("action_repeat", "frame_stack", "learning_starts", "trunk"):
            if getattr(self.rl, name) < 0:
                raise InputError(f"rl.{name} must be >= 0, got {getattr(self.rl, name)}")
