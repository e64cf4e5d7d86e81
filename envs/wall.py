"""The wall world: a point agent in a square arena split by a wall with one door.

The model is ``assets/wall.xml``: a 2 x 2 arena (x, y in [-1, 1]), a wall along x = 0 with a
door 0.4 wide whose centre y varies by episode, and a disc agent (radius 0.06) driven by two
motors through damped slide joints. At full action the agent crosses the arena in about 80
control steps. The door centre is the one episode parameter: the sim state is
``[x, y, x vel, y vel, door y]``.
"""

from __future__ import annotations

import numpy as np

from envs._paths import assets_dir
from envs.base import GoalEnv
from envs.rendering import gl_errors_explained

with gl_errors_explained("importing dm_control (it loads the OpenGL backend on import)"):
    from dm_control import mujoco as dm_mujoco

N_SUB_STEPS = 2
"""Physics steps (0.01 s) per control step."""
DOOR_HALF_WIDTH = 0.2
DOOR_RANGE = 0.6
"""The door centre is uniform in [-DOOR_RANGE, DOOR_RANGE]."""
_MARGIN = 0.02
"""Extra clearance between a sampled agent position and any wall."""


class WallEnv(GoalEnv):
    """Point agent, two rooms, one door (the ``wall-door`` world of docs/protocol.md). Reward is 0.

    Default start: uniform in a room chosen at random, at rest, with a random door; default
    goal: uniform in the other room. Success: within 5% of the arena's width of the goal.
    """

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int = 5,
        camera_id: int = 0,
        render_mode: str | None = "rgb_array",
    ) -> None:
        path = assets_dir() / "wall.xml"
        physics = dm_mujoco.Physics.from_xml_path(str(path))
        super().__init__(
            physics,
            n_sub_steps=N_SUB_STEPS,
            image_size=image_size,
            action_repeat=action_repeat,
            camera_id=camera_id,
            render_mode=render_mode,
        )
        model = physics.named.model
        self.arena_half_width = float(model.geom_size["floor", 0])
        self.success_threshold = 0.05 * 2 * self.arena_half_width
        self._wall_half_thickness = float(model.geom_size["wall_lower", 0])
        self._segment_half_length = float(model.geom_size["wall_lower", 1])
        self._agent_radius = float(model.geom_size["agent", 0])
        self._door = 0.0
        self._set_episode_params(np.zeros(1))

    # ---- episode parameters ---------------------------------------------------------------

    def _episode_params(self) -> np.ndarray:
        return np.array([self._door])

    def _set_episode_params(self, params: np.ndarray) -> None:
        self._door = float(params[0])
        offset = DOOR_HALF_WIDTH + self._segment_half_length
        # body_pos, not geom_pos: collision bounds follow a body, not a moved geom (assets/wall.xml)
        self.physics.named.model.body_pos["wall_lower", "y"] = self._door - offset
        self.physics.named.model.body_pos["wall_upper", "y"] = self._door + offset

    # ---- world parts ----------------------------------------------------------------------

    def _control_step(self, action: np.ndarray) -> None:
        self.physics.set_control(action)
        self.physics.step(N_SUB_STEPS)

    def _native_controls(self, actions: np.ndarray) -> np.ndarray:
        return actions  # _control_step is exactly "set ctrl, step"

    def _room_bounds(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) corners of the positions sampled in room ``side`` (-1 left, +1 right)."""
        clearance = self._agent_radius + _MARGIN
        inner, outer = self._wall_half_thickness + clearance, self.arena_half_width - clearance
        x_low, x_high = (-outer, -inner) if side < 0 else (inner, outer)
        return np.array([x_low, -outer]), np.array([x_high, outer])

    def _state_at(self, position: np.ndarray, door: float) -> np.ndarray:
        return np.array([position[0], position[1], 0.0, 0.0, door])

    def sample_start(self, rng: np.random.Generator) -> np.ndarray:
        """Door centre uniform in [-0.6, 0.6]; a room chosen uniformly; position uniform in it."""
        door = rng.uniform(-DOOR_RANGE, DOOR_RANGE)
        side = -1 if rng.integers(2) == 0 else 1
        return self._state_at(rng.uniform(*self._room_bounds(side)), door)

    def sample_goal(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Position uniform in the room that does not hold the start, at rest."""
        start = self._check_state(start)
        side = -self.room(start)
        return self._state_at(rng.uniform(*self._room_bounds(side)), start[-1])

    def goal_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Distance of the agent to the goal position: ``[..., S]`` -> ``[...]``."""
        return np.linalg.norm(states[..., :2] - goal_state[:2], axis=-1)

    def path_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Shortest way to the goal position through the door: ``[..., S]`` -> ``[...]``.

        In the goal's room it is the straight line; from the other room it is the straight line
        to the door's centre line (x = 0) at the crossing height, clamped to where the agent
        fits through the door, and on to the goal (the wall's thickness is neglected).
        """
        pos = states[..., :2]
        goal = np.asarray(goal_state)[:2]
        door = float(np.asarray(goal_state)[4])
        half = DOOR_HALF_WIDTH - self._agent_radius
        straight = np.linalg.norm(pos - goal, axis=-1)
        # height where the straight line from pos to goal meets x = 0, clamped to the door
        dx = goal[0] - pos[..., 0]
        frac = np.divide(-pos[..., 0], dx, out=np.zeros_like(dx), where=np.abs(dx) > 1e-9)
        y_cross = np.clip(pos[..., 1] + frac * (goal[1] - pos[..., 1]), door - half, door + half)
        cross = np.stack([np.zeros_like(y_cross), y_cross], axis=-1)
        via = np.linalg.norm(pos - cross, axis=-1) + np.linalg.norm(cross - goal, axis=-1)
        same_room = np.sign(pos[..., 0]) == np.sign(goal[0])
        return np.where(same_room, straight, via)

    def room(self, state: np.ndarray) -> int:
        """-1 if the agent of ``state`` is left of the wall's centre line, else +1."""
        return -1 if state[0] < 0 else 1

    def state_features(self, states: np.ndarray) -> dict[str, np.ndarray]:
        states = np.atleast_2d(states)
        return {"position": states[:, :2], "velocity": states[:, 2:4], "door": states[:, 4:5]}
