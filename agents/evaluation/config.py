"""Typed configuration of ``python -m agents.evaluate``: the run section, the task, the
checkpoint, the planner, the goal cost and the evaluation settings, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.planners.base import PlannerConfig
from agents.planners.cost import CostConfig
from envs.tasks import TASKS
from worldmodel.config import PRESETS, RunConfig
from worldmodel.runtime.errors import ConfigError
from worldmodel.runtime.schema import check, choices

BASELINES = ("random", "zero", "oracle")

HINTS = {
    "seed": "the evaluation seed is eval.seed",
    "env": "the world follows from task= (see --help for the tasks)",
    "model": "the model comes from checkpoint=",
    "data": "the model (and its data) come from checkpoint=",
    "train": "training settings belong to python -m worldmodel.train",
    "resume": "an evaluation is not resumed; run it again",
    "logger": "agents.evaluate writes eval.json and does not log to wandb",
    "wandb_mode": "agents.evaluate writes eval.json and does not log to wandb",
    "wandb_project": "agents.evaluate writes eval.json and does not log to wandb",
    "planner.cost": "the goal cost is cost.metric=l2|l1|cosine",
    "planner.cost_weighting": "the cost weighting is cost.weighting=all|last",
}
"""What to use instead of the settings other commands have."""


@dataclass
class EvalSettings:
    episodes: int = 200
    """Episodes per reported number (docs/protocol.md: at least 200; fewer is flagged smoke)."""
    seed: int = 0
    """Seed of the task's episode list (and of the planner's sampling)."""
    parallel: int = 0
    """Episodes played in lockstep and planned in one batch; 0 = 1 on CPU, 25 on CUDA."""
    agent: bool = True
    """Play the world-model agent; false plays only the baselines (to add them to an agent run
    made on another machine: they use neither the model nor the frames)."""
    replan_every: int = 1
    """Decisions between plans (docs/protocol.md: 1)."""
    amp: str = field(default="none", metadata=choices("none", "bf16"))
    """Autocast dtype for encoder and predictor while planning: none | bf16."""
    cuda_graph: bool = True
    """On CUDA, capture each plan (cem, mppi) as one CUDA graph and replay it."""
    compile: bool = False
    """With cuda_graph: torch.compile the plan before capturing it (fewer, fused kernels)."""
    videos: int = 3
    """Episodes of the world-model agent saved as mp4 (current frame | goal, step and distance)."""
    video_scale: int = 4
    """Upscaling of frames in the videos."""
    baselines: list[str] = field(
        default_factory=lambda: list(BASELINES), metadata=choices(*BASELINES)
    )
    """Floors and ceiling run in the same command: random, zero, oracle."""
    baseline_episodes: int = 0
    """Episodes for each baseline; 0 = eval.episodes."""
    oracle_cost: str = field(default="auto", metadata=choices("auto", "goal", "path"))
    """Oracle cost: goal (true goal distance) | path (true shortest way, round walls through
    doors) | auto (path when the agent plans with a learned distance or graph subgoals, so that
    the oracle row is the ceiling of the same planner structure)."""
    oracle_samples: int = 64
    """Oracle CEM samples (it simulates every sample, so it is smaller than the latent planner)."""
    oracle_iterations: int = 5
    """Oracle CEM iterations."""
    oracle_elites: int = 8
    """Oracle CEM elites."""
    domain: str = "cartpole"
    """dmc-generic only: dm_control domain."""
    dmc_task: str = "swingup"
    """dmc-generic only: dm_control task."""

    def __post_init__(self) -> None:
        check(
            self,
            "eval",
            at_least={
                "episodes": 1,
                "seed": 0,
                "parallel": 0,
                "replan_every": 1,
                "videos": 0,
                "video_scale": 1,
                "baseline_episodes": 0,
                "oracle_samples": 1,
                "oracle_iterations": 1,
                "oracle_elites": 1,
            },
        )
        if self.oracle_elites > self.oracle_samples:
            raise ConfigError(
                f"eval.oracle_elites={self.oracle_elites} exceeds eval.oracle_samples="
                f"{self.oracle_samples}; lower elites or raise samples"
            )


@dataclass
class EvaluateConfig(RunConfig):
    """Settings of ``python -m agents.evaluate``."""

    task: str = field(default="reacher-pose", metadata=choices(*TASKS))
    """docs/protocol.md task: reacher-pose | reacher-far | point_mass-goal | wall-door | reacher-easy-return | dmc-generic."""
    checkpoint: str | None = None
    """World model (checkpoint file or run folder); None = runs/<the task's world>-cpu."""
    preset: str = field(default="cpu", metadata=choices(*PRESETS))
    """Size preset: debug | cpu | gpu (debug: a seconds-long smoke evaluation)."""
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    """Latent planner (planner=cem|mppi|gd picks the defaults; planner.samples=... etc.)."""
    cost: CostConfig = field(default_factory=CostConfig)
    """Goal cost of the latent planner."""
    eval: EvalSettings = field(default_factory=EvalSettings)
    """Evaluation settings."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, "")
        if self.eval.replan_every > self.planner.horizon:
            raise ConfigError(
                f"eval.replan_every={self.eval.replan_every} exceeds planner.horizon="
                f"{self.planner.horizon}: the stored plan has only that many actions"
            )


@dataclass
class CompareConfig:
    """Settings of ``python -m agents.compare``: two sides' eval.json files, paired in order."""

    a: list[str] = field(default_factory=list)
    """eval.json files (or the run folders holding them) of the first recipe or planner."""
    b: list[str] = field(default_factory=list)
    """eval.json files of the second, the i-th played on the same episodes as the i-th of a."""
    out: str | None = None
    """JSON file to write the comparison to; None = print it only."""
