"""Latent planners: each takes a rollout function and a cost, never a model class.

:mod:`agents.planners.base` holds the shared types and config, :mod:`agents.planners.registry`
builds a planner by name.
"""

from agents.planners.base import (
    Planner,
    PlannerConfig,
    PlanResult,
    goal_cost,
    shift_plan,
)
from agents.planners.registry import make_planner

__all__ = ["PlanResult", "Planner", "PlannerConfig", "goal_cost", "make_planner", "shift_plan"]
