"""Typed configuration of ``python -m agents.evaluate`` (extends worldmodel's schema)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.planners.base import PlannerConfig
from worldmodel.config import Config


@dataclass
class EvalSettings:
    episodes: int = 200
    """Episodes per reported number (PROTOCOL.md: at least 200; fewer is flagged smoke)."""
    seed: int = 0
    """Seed of the task's episode list (and of the planner's sampling)."""
    parallel: int = 0
    """Episodes played in lockstep and planned in one batch; 0 = 1 on CPU, 25 on CUDA."""
    agent: bool = True
    """Play the world-model agent; false plays only the baselines (to add them to an agent run
    made on another machine: they use neither the model nor the frames)."""
    replan_every: int = 1
    """Decisions between plans (PROTOCOL.md: 1)."""
    amp: str = "none"
    """Autocast dtype for encoder and predictor while planning: none | bf16."""
    cuda_graph: bool = True
    """On CUDA, capture each plan (cem, mppi) as one CUDA graph and replay it."""
    compile: bool = False
    """With cuda_graph: torch.compile the plan before capturing it (fewer, fused kernels)."""
    videos: int = 3
    """Episodes of the world-model agent saved as mp4 (current frame | goal, step and distance)."""
    video_scale: int = 4
    """Upscaling of frames in the videos."""
    baselines: list[str] = field(default_factory=lambda: ["random", "zero", "oracle"])
    """Floors and ceiling run in the same command: random, zero, oracle."""
    baseline_episodes: int = 0
    """Episodes for each baseline; 0 = eval.episodes."""
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


@dataclass
class EvaluateConfig(Config):
    task: str = "reacher-pose"  # type: ignore[assignment]
    """PROTOCOL.md task: reacher-pose | reacher-far | point_mass-goal | wall-door | reacher-easy-return | dmc-generic."""
    planner: PlannerConfig = field(default_factory=PlannerConfig)  # type: ignore[assignment]
    """Latent planner (planner=cem|mppi|gd picks the defaults; planner.samples=... etc.)."""
    eval: EvalSettings = field(default_factory=EvalSettings)  # type: ignore[assignment]
    """Evaluation settings."""
