"""Latent planners: each takes a rollout function and a cost, never a model class.

:mod:`agents.planners.base` holds the shared types and config, :mod:`agents.planners.cost`
the goal cost, :mod:`agents.planners.registry` builds a planner by name.
"""

from agents.planners.base import CostFn, Planner, PlannerConfig, PlanResult, shift_plan
from agents.planners.cost import CostConfig, goal_cost, make_cost
from agents.planners.registry import make_planner

__all__ = [
    "CostConfig",
    "CostFn",
    "PlanResult",
    "Planner",
    "PlannerConfig",
    "goal_cost",
    "make_cost",
    "make_planner",
    "shift_plan",
]
