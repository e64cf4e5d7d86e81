"""The fault suite of docs/protocol.md ("Fault suite"): seeded episodes, normal or with one fault.

An episode is ``EPISODE_DECISIONS`` (100) decisions of the data-collection policy (uniform random
actions held for 1..persistence decisions, :class:`worldmodel.policies.PersistentRandomPolicy`).
Every episode, faulty or not, draws a fault decision ``k`` uniformly from ``[20, 80]``; in a
faulty episode the fault acts after frame ``k`` is observed and before action ``k`` is applied,
so frame ``k + 1`` is the first that shows it (decision ``k``'s transition is the first affected):

- ``push``: ``qvel += N(0, (5 * velocity_std)^2)`` per degree of freedom, once; ``velocity_std`` is
  the per-dof standard deviation of joint velocities over normal episodes (:func:`estimate_velocity_std`);
- ``teleport``: the joint positions (qpos) jump to those of the world's own default start
  (``sample_start``), a valid state; velocities and the episode parameters (target, door) stay;
- ``mass``: every body three times as heavy from then on (``body_mass`` and, the shape being the
  same, ``body_inertia`` tripled);
- ``dead-actuator``: the simulator receives zero actions from then on (the recorded ``actions``
  stay the policy's commands, which is what a model would be told);
- ``colour``: the red, green and blue components of every material and geom colour rotate
  (r, g, b) -> (g, b, r) from then on; the physics is untouched (a control).

Seeds: one episode seed gives the reset, the policy's actions, the fault decision and the fault's
own draws (kick, teleport target) from separate streams, so a normal and a faulty episode of the
same seed coincide up to decision ``k``. Model changes (masses, colours) are undone when the
episode ends, so the env is as clean as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from envs.base import GoalEnv
from envs.rendering import gl_errors_explained

with gl_errors_explained("importing mujoco (it loads the MUJOCO_GL backend on import)"):
    import mujoco

FAULTS = ("push", "teleport", "mass", "dead-actuator", "colour")
"""Fault names, in the order of docs/protocol.md."""
EPISODE_DECISIONS = 100
"""Decisions per fault-suite episode."""
FAULT_WINDOW = (20, 80)
"""The fault decision is drawn uniformly from these decisions, both included."""
PUSH_SCALE = 5.0
"""A push's kick has this many times the velocity standard deviation of normal data."""
MASS_FACTOR = 3.0
VELOCITY_EPISODES = 20
"""Normal episodes (seeds 10**6 + i, not rendered) that :func:`estimate_velocity_std` pools by default."""
_VELOCITY_SEED = 10**6


@dataclass
class FaultEpisode:
    """One fault-suite episode (``T = EPISODE_DECISIONS`` decisions)."""

    frames: np.ndarray
    """uint8 [T+1, H, W, 3]: frame t is observed before decision t."""
    actions: np.ndarray
    """float32 [T, A]: the policy's commands (what the agent believes it did)."""
    applied: np.ndarray
    """float32 [T, A]: what the simulator received (zeros after a dead actuator's decision)."""
    states: np.ndarray
    """float64 [T+1, S]: the full sim state with each frame."""
    fault: str | None
    """The fault's name, or None for a normal episode."""
    fault_step: int
    """The decision drawn from FAULT_WINDOW (drawn in normal episodes too)."""
    seed: int


def play_episode(
    env: GoalEnv,
    seed: int,
    fault: str | None = None,
    *,
    velocity_std: np.ndarray | None = None,
    decisions: int = EPISODE_DECISIONS,
    persistence: int = 4,
) -> FaultEpisode:
    """Play one seeded episode of the data-collection policy, normal or with ``fault``.

    Args:
        env: a world (any :class:`GoalEnv`); its model is restored when the episode ends.
        seed: the episode's seed (reset, actions, fault decision and fault draws).
        fault: one of :data:`FAULTS`, or None for a normal episode.
        velocity_std: ``[nv]`` per-dof velocity spread of normal data, for ``push``; computed
            by :func:`estimate_velocity_std` when None (pass it when playing many episodes).
        decisions: episode length T; the fault window must fit in it.
        persistence: the random policy's 1..persistence hold (the data set's ``data.persistence``).

    Returns:
        A :class:`FaultEpisode` (frames ``[T+1, H, W, 3]``, actions ``[T, A]``, states ``[T+1, S]``).
    """
    from worldmodel.policies import PersistentRandomPolicy
    from worldmodel.runtime.errors import InputError

    if fault is not None and fault not in FAULTS:
        raise InputError(f"unknown fault {fault!r}; choose one of {list(FAULTS)} (or None)")
    if decisions <= FAULT_WINDOW[1]:
        raise InputError(
            f"episodes of {decisions} decisions end before the fault window {list(FAULT_WINDOW)}; "
            f"use at least {FAULT_WINDOW[1] + 1} (the protocol uses {EPISODE_DECISIONS})"
        )
    if fault == "push" and velocity_std is None:
        velocity_std = estimate_velocity_std(env, persistence=persistence)
    episode_ss, timing_ss, fault_ss = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(episode_ss)
    fault_step = int(
        np.random.default_rng(timing_ss).integers(FAULT_WINDOW[0], FAULT_WINDOW[1] + 1)
    )
    fault_rng = np.random.default_rng(fault_ss)
    policy = PersistentRandomPolicy(env.action_space, rng, persistence)

    t_len = decisions
    frames = np.empty((t_len + 1, *env.observation_space.shape), np.uint8)  # [T+1, H, W, 3]
    actions = np.empty((t_len, *env.action_space.shape), np.float32)  # [T, A]
    applied = np.empty_like(actions)  # [T, A]
    states = np.empty((t_len + 1, env.state_size))  # [T+1, S]
    with model_restored(env):
        frame, info = env.reset(seed=int(rng.integers(2**31)))
        policy.reset()
        frames[0], states[0] = frame, info["state"]
        dead = False
        for t in range(t_len):
            if fault is not None and t == fault_step:
                dead = fault == "dead-actuator"
                _start_fault(env, fault, fault_rng, velocity_std)
            action = np.asarray(policy(frame, info), np.float32)
            actions[t] = action
            applied[t] = np.zeros_like(action) if dead else action
            frame, _, _, _, info = env.step(applied[t])
            frames[t + 1], states[t + 1] = frame, info["state"]
    return FaultEpisode(frames, actions, applied, states, fault, fault_step, int(seed))


def estimate_velocity_std(
    env: GoalEnv,
    episodes: int = VELOCITY_EPISODES,
    *,
    seed: int = _VELOCITY_SEED,
    persistence: int = 4,
) -> np.ndarray:
    """Per-dof standard deviation of joint velocities ``[nv]`` in normal data.

    Pools every state of ``episodes`` normal episodes (seeds ``seed + i``, played blind, so no
    frame is rendered) of :data:`EPISODE_DECISIONS` decisions; a dof that never moves gets 1e-6.
    """
    nq, nv = env.physics.model.nq, env.physics.model.nv
    blind, env.blind = env.blind, True
    try:
        states = np.concatenate(
            [play_episode(env, seed + i, persistence=persistence).states for i in range(episodes)]
        )  # [episodes * (T+1), S]
    finally:
        env.blind = blind
    return np.maximum(states[:, nq : nq + nv].std(axis=0), 1e-6)  # [nv]


@contextlib.contextmanager
def model_restored(env: GoalEnv) -> Iterator[None]:
    """Undo the model changes faults make (masses, inertias, colours) on exit."""
    model = env.physics.model
    fields = ("body_mass", "body_inertia", "geom_rgba", "mat_rgba")
    saved = {name: getattr(model, name).copy() for name in fields}
    try:
        yield
    finally:
        changed = not all(np.array_equal(getattr(model, n), v) for n, v in saved.items())
        for name, value in saved.items():
            getattr(model, name)[:] = value
        if changed:
            _recompute_constants(env)


def _recompute_constants(env: GoalEnv) -> None:
    """``mj_setConst`` after a mass change, keeping the simulator's state.

    MuJoCo caches what it derives from masses at compile time (``dof_M0``, the mass matrix of
    simple bodies such as the point agents' slide joints, ``body_subtreemass`` ...): without this,
    tripled masses change nothing for them. ``mj_setConst`` moves the state to ``qpos0``; the
    integration state is put back.
    """
    physics = env.physics
    saved = physics.get_state(sig=mujoco.mjtState.mjSTATE_INTEGRATION).copy()
    mujoco.mj_setConst(physics.model.ptr, physics.data.ptr)
    physics.set_state(saved, sig=mujoco.mjtState.mjSTATE_INTEGRATION)
    physics.forward()


def _start_fault(
    env: GoalEnv, fault: str, rng: np.random.Generator, velocity_std: np.ndarray | None
) -> None:
    """Apply ``fault`` to the simulator now (dead-actuator is the episode loop's part)."""
    physics = env.physics
    model, nq, nv = physics.model, physics.model.nq, physics.model.nv
    if fault == "push":
        assert velocity_std is not None
        physics.data.qvel[:] += rng.normal(0.0, PUSH_SCALE * np.asarray(velocity_std), nv)
        physics.forward()
    elif fault == "teleport":
        state = env.get_sim_state()  # [S]
        state[:nq] = env.sample_start(rng)[:nq]
        env.set_sim_state(state)
    elif fault == "mass":
        model.body_mass[:] *= MASS_FACTOR
        model.body_inertia[:] *= MASS_FACTOR
        _recompute_constants(env)
    elif fault == "colour":
        for rgba in (model.geom_rgba, model.mat_rgba):  # [n, 4]
            rgba[:, :3] = rgba[:, [1, 2, 0]]


def fault_shift(
    env: GoalEnv,
    seed: int,
    fault: str,
    *,
    velocity_std: np.ndarray | None = None,
    persistence: int = 4,
) -> float:
    """How far ``fault`` moves the world by the first frame that shows it.

    Plays the faulty episode of ``seed`` and its normal twin (same seed, so they coincide up to
    the fault's decision ``k``) blind, and returns ``max |qpos| difference`` at frame ``k + 1``,
    hinge angles wrapped to [-pi, pi) (radians for hinges, metres for slides). It says what one
    decision's prediction has to notice; compare it with :func:`step_motion`.
    """
    blind, env.blind = env.blind, True
    try:
        kw: dict = {"velocity_std": velocity_std, "persistence": persistence}
        normal = play_episode(env, seed, None, **kw)
        faulty = play_episode(env, seed, fault, **kw)
    finally:
        env.blind = blind
    k = faulty.fault_step
    return float(_qpos_gap(env, faulty.states[k + 1], normal.states[k + 1]).max())


def step_motion(env: GoalEnv, episode: FaultEpisode) -> np.ndarray:
    """``max |qpos_{t+1} - qpos_t|`` per decision ``[T]`` of an episode of ``env`` (hinge angles
    wrapped, as in :func:`fault_shift`): the scale a fault's shift is read against."""
    return _qpos_gap(env, episode.states[1:], episode.states[:-1]).max(axis=-1)


def _qpos_gap(env: GoalEnv, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|qpos(a) - qpos(b)|`` of sim states ``[..., S]`` -> ``[..., nq]``, hinge angles wrapped
    to [-pi, pi) (:func:`envs.dmc.qpos_gap`)."""
    from envs.dmc import hinge_qpos_indices, qpos_gap

    model = env.physics.model
    return qpos_gap(a[..., : model.nq], b[..., : model.nq], hinge_qpos_indices(model))
