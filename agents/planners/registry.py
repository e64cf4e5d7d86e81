"""The planners by name. Only this module imports the implementations, so no planner imports
the module that lists it."""

import torch

from agents.planners.base import PLANNERS, Planner, PlannerConfig
from agents.planners.cem import CEMPlanner
from agents.planners.gd import GDPlanner
from agents.planners.mppi import MPPIPlanner
from worldmodel.runtime.errors import InputError

REGISTRY: dict[str, type] = {"cem": CEMPlanner, "mppi": MPPIPlanner, "gd": GDPlanner}
assert set(REGISTRY) == set(PLANNERS), "PLANNERS (the config's choices) and REGISTRY disagree"


def make_planner(cfg: PlannerConfig, action_dim: int, device: torch.device | str) -> Planner:
    """Build the planner that ``cfg.name`` names, for ``action_dim``-d actions on ``device``."""
    if cfg.name not in REGISTRY:
        raise InputError(f"unknown planner {cfg.name!r}; choose one of {tuple(REGISTRY)}")
    return REGISTRY[cfg.name](cfg, action_dim, torch.device(device))
