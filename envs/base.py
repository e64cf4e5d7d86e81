"""The goal-image environment interface shared by every world.

A :class:`GoalEnv` wraps one MuJoCo simulation held as a ``dm_control.mujoco.Physics``. An
episode is a pair of full simulator states, ``start`` and ``goal``; the agent sees RGB frames
of the current state and, in ``info["goal"]``, a frame of the goal state. Each world supplies
how to draw a default start (``sample_start``), one physics control step (``_control_step``)
and its reward (``_reward``), its per-episode model parameters (``_episode_params``), its goal
distance and success threshold, and its privileged probe features (``state_features``); a world
whose control step only sets ``ctrl`` says so in ``_native_controls``, and ``simulate`` then runs
in MuJoCo's native ``mujoco.rollout`` (:mod:`envs.simulate` holds how).

Simulator state layout, for every world: ``[qpos, qvel, act, episode parameters]``, where the
first three are ``physics.get_state()`` and the episode parameters are the model values that a
reset changes (e.g. the reacher target position, the wall door position).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import gl_errors_explained

with gl_errors_explained("importing mujoco (it loads the MUJOCO_GL backend on import)"):
    import mujoco

from envs import simulate  # noqa: E402  (after mujoco, whose import errors are explained above)

GOAL_STEPS = 25
"""Env steps of uniform random actions that make the default goal (docs/protocol.md)."""

_MAX_REDRAWS = 1000
_SAVE_SIG = mujoco.mjtState.mjSTATE_INTEGRATION  # everything mj_step reads, incl. warm start


class GoalEnv(gym.Env[np.ndarray, np.ndarray]):
    """A pixel MuJoCo environment whose episodes are (start state, goal state) pairs.

    Observations are ``uint8 [H, W, 3]`` frames; actions are ``float32 [A]`` in ``[-1, 1]``,
    clipped, and repeated for ``action_repeat`` physics control steps. ``terminated`` and
    ``truncated`` are always False: budgets and early ends belong to the evaluation loop.
    ``info`` on reset and on every step holds ``goal`` (the goal frame), ``state`` (the full
    sim state, float64 [S]), ``success``, ``goal_distance`` and ``env_steps`` (physics control
    steps since reset).

    ``reset(options=...)`` accepts ``"start"`` and/or ``"goal"``, full sim states as returned by
    :meth:`get_sim_state`; without both, :meth:`sample_episode` draws the pair, and a missing
    one alone comes from :meth:`sample_start` or :meth:`sample_goal`. Either way the pair goes
    through :meth:`pair_states`.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_space: spaces.Box
    observation_space: spaces.Box

    success_threshold: float = 0.0
    """``is_success`` holds when ``goal_distance`` is below this."""

    policy_state: tuple[str, ...] | None = None
    """The :meth:`state_features` that an RL agent's state baseline reads, in this order
    (``agents.rl.StateObservation``); None: all of them. A world whose probes read derived
    quantities as well names the ones its state baseline is defined by, so that adding a probe
    never changes that baseline."""

    supersample: int = 1
    """Frames are rendered at ``supersample`` times the image size and box-averaged down: each
    pixel then averages ``supersample**2`` times MuJoCo's 4 multisamples, so a body smaller than
    a pixel moves smoothly between frames instead of in jumps (part of the world's definition,
    the same for every method; see docs/protocol.md)."""

    def __init__(
        self,
        physics: Any,
        *,
        n_sub_steps: int,
        image_size: int,
        action_repeat: int,
        camera_id: int,
        render_mode: str | None,
    ) -> None:
        for name, value in (("image_size", image_size), ("action_repeat", action_repeat)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        ncam = physics.model.ncam
        if not -1 <= camera_id < ncam:
            raise ValueError(
                f"camera_id must be in [-1, {ncam - 1}] for this model (-1 is the free camera), "
                f"got {camera_id}"
            )
        self.physics = physics
        self.image_size = int(image_size)
        self.action_repeat = int(action_repeat)
        self.camera_id = int(camera_id)
        self.render_mode = render_mode
        self._n_sub_steps = int(n_sub_steps)
        self._rendered_once = False
        self._closed = False
        self.blind = False
        """When True, ``reset`` and ``step`` return an all-zero frame instead of rendering one:
        for policies that never look at frames (the baselines), whose episodes then cost physics
        only. ``render`` and ``render_state`` still render."""
        # The offscreen buffer must hold the frame; it is read when the GL context is created.
        vis = physics.model.vis.global_
        vis.offwidth = max(vis.offwidth, self.image_size * self.supersample)
        vis.offheight = max(vis.offheight, self.image_size * self.supersample)

        n_actions = physics.model.nu
        self.action_space = spaces.Box(-1.0, 1.0, (n_actions,), np.float32)
        self.observation_space = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        control_dt = physics.timestep() * self._n_sub_steps
        self.metadata = {
            **type(self).metadata,
            "render_fps": round(1.0 / (control_dt * self.action_repeat)),
        }
        self.goal_state: np.ndarray | None = None
        self._goal_image: np.ndarray | None = None
        self._env_steps = 0
        self._rollout_pool: list[Any] = []
        """MjData per thread for :mod:`envs.simulate`'s native rollout, made on first use."""

    # ---- world-specific parts -------------------------------------------------------------

    def _control_step(self, action: np.ndarray) -> None:
        """Apply ``action`` (float64 [A], in [-1, 1]) for one physics control step."""
        raise NotImplementedError

    def _reward(self) -> float:
        """The task's own reward for the control step just taken; 0 for worlds without one."""
        return 0.0

    def _episode_params(self) -> np.ndarray:
        """Model values that vary by episode (float64 [P]); none by default."""
        return np.zeros(0)

    def _set_episode_params(self, params: np.ndarray) -> None:
        """Write values returned by :meth:`_episode_params` back into the model."""

    def sample_start(self, rng: np.random.Generator) -> np.ndarray:
        """The world's own default reset, drawn with ``rng``: a full sim state [S]."""
        raise NotImplementedError

    def goal_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """The quantity that the success test thresholds, for sim states ``[..., S]`` -> ``[...]``."""
        raise NotImplementedError

    def goal_gaps(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, float] | None:
        """Where the success test holds when every coordinate's gap to the goal is under
        ``success_threshold`` (the goal distance is the largest gap): each gap of one state
        ``[S]`` by the coordinate's name, which tells the coordinates a failed episode missed on.
        None in a world whose distance is not such a maximum (a Euclidean distance)."""
        return None

    def path_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Length of the shortest free way to the goal, ``[..., S]`` -> ``[...]``, in the units
        of ``goal_distances``: the cost of the oracle whose planner structure reaches goals
        behind obstacles (``eval.oracle_cost=path``). Worlds with no obstacle between start and
        goal keep ``goal_distances``; the wall world goes through its door."""
        return self.goal_distances(states, goal_state)

    def state_features(self, states: np.ndarray) -> dict[str, np.ndarray]:
        """Privileged features of sim states ``[N, S]`` for linear probes: name -> ``[N, k]``."""
        raise NotImplementedError

    # ---- episodes ---------------------------------------------------------------------------

    def sample_goal(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Default goal: the state that ``GOAL_STEPS`` physics control steps reach from
        ``start``, each with a fresh uniform random action drawn from ``rng``."""
        with self._state_preserved():
            self.set_sim_state(start)
            low, high = self.action_space.low, self.action_space.high
            for _ in range(GOAL_STEPS):
                self._control_step(rng.uniform(low, high).astype(np.float64))
            return self.get_sim_state()

    def pair_states(self, start: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Make a start and a goal one episode: by default the goal takes the start's episode
        parameters (target, door), so that both images show the same world."""
        start = self._check_state(start).copy()
        goal = self._check_state(goal).copy()
        n_params = self._episode_params().size
        if n_params:
            goal[-n_params:] = start[-n_params:]
        return start, goal

    def can_reach(self, start: np.ndarray, goal: np.ndarray, env_steps: int) -> bool | None:
        """An upper bound from physics alone: False when no control sequence of ``env_steps``
        physics control steps can satisfy the success test from ``start``; True when that
        cannot be ruled out; None for worlds without such a bound. A task's share of True
        episodes is a ceiling on any planner's success (``python -m benchmarks.ceiling``)."""
        return None

    def mark_goal(self, states: np.ndarray, k: int) -> np.ndarray | None:
        """The episode ``states`` ``[T, S]`` with the world's goal marker moved, for the whole
        episode, to where the controlled body is at step ``k``: the frame at ``k`` then shows
        what a goal image of the world's task shows (point_mass: the mass under the marker).
        None for worlds without a visible goal marker (``data.hindsight`` refuses them)."""
        return None

    def jitter_marker(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """The episode ``states`` ``[T, S]`` with the world's goal marker at an independent
        random place in every step (drawn as the world draws its goals), so that the marker
        tells nothing about the next frame. None for worlds without a visible goal marker
        (``data.marker_jitter`` refuses them)."""
        return None

    def sample_episode(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A default (start, goal) pair drawn with ``rng``, paired by :meth:`pair_states`. A start
        that already satisfies the success test is redrawn (up to 1000 times)."""
        for _ in range(_MAX_REDRAWS):
            start = self.sample_start(rng)
            start, goal = self.pair_states(start, self.sample_goal(start, rng))
            if not self.is_success(start, goal):
                break
        return start, goal

    def goal_distance(self, state: np.ndarray, goal_state: np.ndarray) -> float:
        """The quantity that the success test of this world thresholds, for one state [S]."""
        return float(self.goal_distances(np.asarray(state)[None], np.asarray(goal_state))[0])

    def is_success(self, state: np.ndarray, goal_state: np.ndarray) -> bool:
        """The docs/protocol.md success test of this world."""
        return bool(self.goal_distance(state, goal_state) < self.success_threshold)

    def _native_controls(self, actions: np.ndarray) -> np.ndarray | None:
        """``ctrl`` values ``[..., nu]`` for actions ``[..., A]`` (float64, clipped to [-1, 1])
        when one control step is exactly "set ``ctrl``, then ``n_sub_steps`` × ``mj_step``";
        None (the default) when the world's :meth:`_control_step` does anything else, in which
        case :meth:`simulate` steps it in Python."""
        return None

    def simulate(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Roll the true simulator out from ``state`` (the oracle planner's model).

        Worlds whose control step is plain "set ctrl and step" (see :meth:`_native_controls`)
        run every sequence in MuJoCo's native ``mujoco.rollout``; others step in Python. Each
        sequence starts from ``state`` with the solver warm start the simulator has now, as
        :meth:`step` would.

        Args:
            state: a sim state [S].
            actions: ``[N, H, A]`` action sequences of H decisions; like ``step``, each action
                is clipped and repeated for ``action_repeat`` physics control steps.

        Returns:
            ``[N, H, S]``: the sim state after each decision. The current state is restored.
        """
        return simulate.simulate(self, state, actions)

    def _simulate_python(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """:meth:`simulate` by stepping :meth:`_control_step` (actions already clipped), the path
        that the native rollout is checked against."""
        return simulate.simulate_python(self, state, actions)

    # ---- simulator state ----------------------------------------------------------------

    @property
    def state_size(self) -> int:
        """Length S of a sim state vector."""
        return self.physics.get_state().size + self._episode_params().size

    def get_sim_state(self) -> np.ndarray:
        """The full sim state, float64 [S]: ``[qpos, qvel, act, episode parameters]``."""
        self._require_open()
        return np.concatenate([self.physics.get_state(), self._episode_params()])

    def set_sim_state(self, state: np.ndarray) -> None:
        """Put the simulator in ``state`` (as returned by :meth:`get_sim_state`)."""
        self._require_open()
        state = self._check_state(state)
        n_physics = self.physics.get_state().size
        self._set_episode_params(state[n_physics:])
        self.physics.set_state(state[:n_physics].copy())
        self.physics.forward()

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """The frame of ``state``, uint8 [H, W, 3]; the current state is restored afterwards."""
        with self._state_preserved():
            self.set_sim_state(state)
            return self._render()

    def _check_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.state_size,):
            raise ValueError(
                f"{type(self).__name__} sim states have shape ({self.state_size},), got "
                f"{state.shape}: pass a state from get_sim_state() of the same world and settings"
            )
        return state

    @contextlib.contextmanager
    def _state_preserved(self) -> Iterator[None]:
        """Restore the full integration state (incl. controls and solver warm start) and the
        episode parameters on exit, so that what happens inside leaves no trace."""
        self._require_open()
        saved = self.physics.get_state(sig=_SAVE_SIG)
        params = self._episode_params().copy()
        try:
            yield
        finally:
            self._set_episode_params(params)
            self.physics.set_state(saved, sig=_SAVE_SIG)
            self.physics.forward()

    # ---- gymnasium API --------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._require_open()
        options = dict(options or {})
        unknown = sorted(set(options) - {"start", "goal"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; accepted: ['start', 'goal']")
        start, goal = options.get("start"), options.get("goal")
        if start is None and goal is None:
            start, goal = self.sample_episode(self.np_random)
        else:
            if start is None:
                start = self.sample_start(self.np_random)
            if goal is None:
                goal = self.sample_goal(self._check_state(start), self.np_random)
            start, goal = self.pair_states(start, goal)

        self.physics.reset()  # clears controls, time and the solver warm start
        self.goal_state = goal
        self._goal_image = self.render_state(goal)
        self.set_sim_state(start)
        self._env_steps = 0
        return self._observe(), self._info(self.get_sim_state())

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.goal_state is None:
            raise RuntimeError(f"call reset() before step() on {type(self).__name__}")
        self._require_open()
        action = np.asarray(action, dtype=np.float64).reshape(self.action_space.shape)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        action = np.clip(action, self.action_space.low, self.action_space.high)
        reward = 0.0
        for _ in range(self.action_repeat):
            self._control_step(action)
            reward += float(self._reward())
            self._env_steps += 1
        return self._observe(), reward, False, False, self._info(self.get_sim_state())

    def render(self) -> np.ndarray:  # type: ignore[override]
        """The current frame, uint8 [H, W, 3]."""
        self._require_open()
        return self._render()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.physics.free()

    # ---- helpers --------------------------------------------------------------------------

    def _info(self, state: np.ndarray) -> dict[str, Any]:
        assert self.goal_state is not None and self._goal_image is not None
        distance = self.goal_distance(state, self.goal_state)
        return {
            "goal": self._goal_image.copy(),
            "state": state,
            "success": bool(distance < self.success_threshold),
            "goal_distance": float(distance),
            "env_steps": int(self._env_steps),
        }

    def _observe(self) -> np.ndarray:
        """The observation of ``reset`` and ``step``: the frame, or zeros when ``blind``."""
        if self.blind:
            return np.zeros((self.image_size, self.image_size, 3), dtype=np.uint8)
        return self._render()

    def _render(self) -> np.ndarray:
        """The current frame, uint8 [H, W, 3] (rendered at ``supersample`` x H, then averaged)."""
        k, size = self.supersample, self.image_size
        if self._rendered_once:
            frame = self.physics.render(height=size * k, width=size * k, camera_id=self.camera_id)
        else:
            with gl_errors_explained(f"the first render of {type(self).__name__}"):
                frame = self.physics.render(
                    height=size * k, width=size * k, camera_id=self.camera_id
                )
            self._rendered_once = True
        if k == 1:
            return frame
        # [kH, kW, 3] -> [H, k, W, k, 3] -> mean over each k x k block, rounded to uint8
        blocks = frame.reshape(size, k, size, k, 3).astype(np.float32).mean(axis=(1, 3))
        return np.rint(blocks).astype(np.uint8)

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed; make a new one")
