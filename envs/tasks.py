"""The benchmark tasks of docs/protocol.md: worlds, budgets, metrics and episode lists.

A task turns a seed into a list of (start, goal) pairs of full simulator states, by the
procedure documented on its sampler below. ``Task.episodes(seed, n)`` draws the pairs in order
from ``numpy.random.default_rng(seed)``, so a list is deterministic, any seed gives a fresh
list, and ``episodes(seed, n)[:k] == episodes(seed, k)``. For tasks judged by success, a pair
whose start already satisfies the success test is redrawn. Play an episode with
``env.reset(options={"start": episode.start, "goal": episode.goal})``.

Episode lists depend on the world only, never on image size, action repeat or camera.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import envs
from worldmodel.runtime.errors import ConfigError

if TYPE_CHECKING:
    from envs.base import GoalEnv

PROTOCOL_VERSION = 2
"""Bumped whenever a task's world, budget, success test or episode procedure changes (see
docs/protocol.md; 2: dmc-generic wraps hinge angles in its qpos success test)."""

_MAX_REDRAWS = 1000

Sampler = Callable[["GoalEnv", np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""(env, rng) -> one raw (start, goal) draw; :meth:`Task.episodes` pairs and filters it."""


@dataclass(frozen=True)
class Episode:
    """One evaluation episode: full simulator states, as from ``env.get_sim_state()``."""

    start: np.ndarray
    goal: np.ndarray


# ---- episode procedures ---------------------------------------------------------------------


def default_pair(env: GoalEnv, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The world's default episode: start = the world's own reset; goal = ``env.sample_goal``.

    reacher-pose and dmc-generic: the start is the dm_control task's reset (reacher: uniform
    joint angles, zero velocity, a random target that is not drawn); the goal is the state
    that 25 physics control steps reach from it, each with a fresh uniform random action.
    wall-door: a door centre uniform in [-0.6, 0.6], a room chosen uniformly, the start
    uniform in it at rest, and the goal uniform in the other room at rest.
    """
    start = env.sample_start(rng)
    return start, env.sample_goal(start, rng)


def independent_pair(env: GoalEnv, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Start and goal drawn independently, each by the world's own reset.

    reacher-far: both poses uniform (shoulder in [-pi, pi], wrist in its +-160 degree range),
    zero velocity; the goal keeps the start's (hidden) target.
    point_mass-goal: both positions uniform in the arena, zero velocity; the target marker is
    placed at the goal position in both states.
    """
    return env.sample_start(rng), env.sample_start(rng)


def reach_target_pair(env: GoalEnv, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """reacher-easy-return: start = a standard dm_control reacher-easy reset (random arm pose
    and target); goal = the arm pose that puts the fingertip on the target, by closed-form
    two-link inverse kinematics (link lengths from the model), elbow solution nearer the
    start, zero velocity. Episodes are not filtered: they stay standard reacher-easy episodes.
    """
    start = env.sample_start(rng)
    return start, env.reach_state(start)  # type: ignore[attr-defined]


# ---- tasks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One row of the task table of docs/protocol.md."""

    name: str
    """Task name, a key of :data:`TASKS`."""
    world: str
    """One of ``envs.WORLDS``."""
    env_kwargs: dict[str, Any]
    """World settings that define the task (e.g. whether the reacher target is drawn)."""
    budget: int
    """Episode budget in environment steps (physics control steps), whatever the action repeat."""
    metric: Literal["success", "return"]
    """What the task reports: success rate, or the sum of the task's own reward."""
    early_end: bool
    """Whether an episode ends at the first step that satisfies the success test."""
    sampler: Sampler = field(repr=False, compare=False)
    """The episode procedure (see its docstring)."""

    def make_env(self, image_size: int = 64, action_repeat: int = 5, **overrides: Any) -> GoalEnv:
        """The task's world with its settings; ``overrides`` replace or add env kwargs."""
        kwargs = {**self.env_kwargs, **overrides}
        return envs.make(self.world, image_size=image_size, action_repeat=action_repeat, **kwargs)

    def episodes(self, seed: int, n: int) -> list[Episode]:
        """``n`` episodes drawn from ``numpy.random.default_rng(seed)`` by the task's procedure.

        Each raw draw is made one episode by ``env.pair_states`` (shared target or door); for
        tasks judged by success, a draw whose start already satisfies the success test is
        redrawn.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rng = np.random.default_rng(seed)
        env = self.make_env(image_size=16, action_repeat=1)
        try:
            return [self._draw(env, rng) for _ in range(n)]
        finally:
            env.close()

    def _draw(self, env: GoalEnv, rng: np.random.Generator) -> Episode:
        for _ in range(_MAX_REDRAWS):
            start, goal = env.pair_states(*self.sampler(env, rng))
            if self.metric != "success" or not env.is_success(start, goal):
                return Episode(start=start, goal=goal)
        raise ConfigError(
            f"task {self.name!r}: {_MAX_REDRAWS} draws in a row had starts that already "
            f"succeed; its world ({self.world}, {self.env_kwargs}) cannot make useful episodes "
            "(its goals barely move from the start): choose another world or domain"
        )


_POSE = {"draw_target": False, "target_size": "easy"}

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("reacher-pose", "reacher", dict(_POSE), 50, "success", True, default_pair),
        Task("reacher-far", "reacher", dict(_POSE), 200, "success", True, independent_pair),
        Task("point_mass-goal", "point_mass", {}, 200, "success", True, independent_pair),
        Task("wall-door", "wall", {}, 300, "success", True, default_pair),
        Task(
            "reacher-easy-return",
            "reacher",
            {"draw_target": True, "target_size": "easy"},
            1000,
            "return",
            False,
            reach_target_pair,
        ),
        Task(
            "dmc-generic",
            "dmc",
            {"domain": "cartpole", "task": "swingup"},
            100,
            "success",
            True,
            default_pair,
        ),
    )
}
"""The tasks of docs/protocol.md by name; ``dmc-generic`` defaults to cartpole/swingup."""

_TASK_KWARGS = {"dmc-generic": ("domain", "task")}


def get_task(name: str, **kwargs: Any) -> Task:
    """The task ``name``; ``dmc-generic`` also takes ``domain=`` and ``task=``.

    Raises:
        ValueError: unknown task name (lists the choices), or unknown dm_control domain/task.
        TypeError: a keyword the task does not take.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {list(TASKS)}")
    task = TASKS[name]
    accepted = _TASK_KWARGS.get(name, ())
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"task {name!r} got unknown keyword argument(s) {unknown}; accepted: {list(accepted)}"
        )
    if not kwargs:
        return task
    env_kwargs = {**task.env_kwargs, **kwargs}
    if task.world == "dmc":
        from envs.dmc import check_domain_task

        check_domain_task(env_kwargs["domain"], env_kwargs["task"])
    return dataclasses.replace(task, env_kwargs=env_kwargs)


__all__ = ["PROTOCOL_VERSION", "TASKS", "Episode", "Task", "get_task"]
