"""Pixel MuJoCo environments with goal images.

``envs.make(name, **kwargs)`` builds one of :data:`WORLDS`; importing ``envs`` also registers
them with gymnasium as ``worldmodel/Reacher-v0``, ``worldmodel/PointMass-v0``,
``worldmodel/Wall-v0`` and ``worldmodel/DMC-v0`` (``domain=``, ``task=``). Tasks with seeded
episode lists (docs/protocol.md) live in :mod:`envs.tasks`.

The worlds never end an episode by themselves (budgets belong to the task). So that a standard
Gymnasium or Stable-Baselines3 loop ends episodes, the registered ids carry
``max_episode_steps=200`` (:data:`MAX_EPISODE_STEPS`): 1000 env steps, the dm_control suite's
episode length and the default ``rl.episode_length`` of ``agents.rl``, at the default
``action_repeat=5``. With another action repeat, pass the matching limit:
``gymnasium.make("worldmodel/Reacher-v0", action_repeat=2, max_episode_steps=500)``.
``envs.make`` returns the world without a time limit.
"""

from envs.rendering import ensure_gl_backend

ensure_gl_backend()  # before anything imports mujoco or dm_control

import importlib  # noqa: E402
import inspect  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import gymnasium  # noqa: E402

from worldmodel.runtime.errors import ConfigError  # noqa: E402

if TYPE_CHECKING:
    from envs.base import GoalEnv

WORLDS = ("reacher", "point_mass", "wall", "dmc")
"""Names accepted by :func:`make`."""

_ENTRY_POINTS = {
    "reacher": "envs.dmc:ReacherEnv",
    "point_mass": "envs.dmc:PointMassEnv",
    "wall": "envs.wall:WallEnv",
    "dmc": "envs.dmc:DMCEnv",
}
GYM_IDS = {
    "reacher": "worldmodel/Reacher-v0",
    "point_mass": "worldmodel/PointMass-v0",
    "wall": "worldmodel/Wall-v0",
    "dmc": "worldmodel/DMC-v0",
}
"""gymnasium id of each world."""

REVISIONS = {"wall": 2, "point_mass": 3, "dmc/swimmer": 2}
"""Revision of each world (or dm_control domain, as ``dmc/<domain>``) whose physics or frames
changed after data sets of it were cached (1 where never). Data sets record it
(:func:`worldmodel.collect.dataset_identity`), so data of an older revision is not reused.
wall 2: the wall blocks everywhere outside the door (revision 1 let the agent through where the
door is at y = 0 whenever the door sat elsewhere; see assets/wall.xml). dmc/swimmer 2: the target
light, which swimmer's reset moves with its target, is an episode parameter (revision 1 left it
where the last reset put it, so a goal or a redrawn marker could be lit from another episode).
point_mass 2: frames are supersampled (``GoalEnv.supersample``): at 4 multisamples the mass,
2 pixels wide and moving about 0.4 pixels a decision, changed its pixels in jumps. point_mass 3:
the target marker is a disc on the floor under the mass (``PointMassEnv.marker_thickness``);
dm_control's ball-shaped marker, larger than the mass and centred on it, hid the mass in every
goal image of point_mass-goal."""


def world_revision(world: str, domain: str | None = None) -> int:
    """The revision of ``world`` (of its dm_control ``domain`` for ``dmc``): :data:`REVISIONS`."""
    if world == "dmc" and domain is not None and f"dmc/{domain}" in REVISIONS:
        return REVISIONS[f"dmc/{domain}"]
    return REVISIONS.get(world, 1)


EPISODE_ENV_STEPS = 1000
"""Env steps (physics control steps) per episode of a registered id: dm_control's 1000."""
MAX_EPISODE_STEPS = EPISODE_ENV_STEPS // 5
"""``max_episode_steps`` of the registered ids, in decisions at the default action_repeat=5."""


def env_class(name: str) -> type["GoalEnv"]:
    """The environment class of world ``name`` (imports dm_control)."""
    if name not in WORLDS:
        raise ConfigError(f"unknown world {name!r}; choose one of {list(WORLDS)}")
    module, attr = _ENTRY_POINTS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make(name: str, **kwargs: Any) -> "GoalEnv":
    """Build world ``name`` (one of :data:`WORLDS`), unwrapped.

    Common kwargs: ``image_size=64``, ``action_repeat=5``, ``camera_id=0``; reacher also takes
    ``target_size="easy"|"hard"`` and ``draw_target=False``; dmc takes ``domain`` and ``task``
    (default cartpole/swingup).

    Raises:
        ValueError: unknown world name.
        TypeError: a keyword the world does not accept (the message lists the accepted ones).
    """
    cls = env_class(name)
    accepted = list(inspect.signature(cls).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"envs.make({name!r}) got unknown keyword argument(s) {unknown}; accepted: {accepted}"
        )
    return cls(**kwargs)


for _name, _gym_id in GYM_IDS.items():
    if _gym_id not in gymnasium.registry:
        gymnasium.register(
            id=_gym_id, entry_point=_ENTRY_POINTS[_name], max_episode_steps=MAX_EPISODE_STEPS
        )

__all__ = [
    "GYM_IDS",
    "MAX_EPISODE_STEPS",
    "REVISIONS",
    "WORLDS",
    "ensure_gl_backend",
    "env_class",
    "make",
    "world_revision",
]
