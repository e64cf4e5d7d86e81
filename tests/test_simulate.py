"""The oracle's ``GoalEnv.simulate``: the native ``mujoco.rollout`` path equals stepping the env."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

import envs

NATIVE = ("reacher", "point_mass", "wall")


@pytest.fixture(scope="module")
def made():
    built = {name: envs.make(name, image_size=16) for name in (*NATIVE, "dmc")}
    yield built
    for env in built.values():
        env.close()


def _integration_state(env) -> np.ndarray:
    return env.physics.get_state(sig=mujoco.mjtState.mjSTATE_INTEGRATION)


def _stepped(env, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Reference: ``set_sim_state`` then ``step`` each action: ``[N, H, A]`` -> ``[N, H, S]``."""
    warmstart = env.physics.data.qacc_warmstart.copy()
    out = np.empty((*actions.shape[:2], env.state_size))
    for i, sequence in enumerate(actions):
        env.set_sim_state(state)
        env.physics.data.qacc_warmstart[:] = warmstart
        for h, action in enumerate(sequence):
            out[i, h] = env.step(action)[4]["state"]
    env.set_sim_state(state)
    return out


def _actions(env, n=3, horizon=4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.3, 1.3, (n, horizon, *env.action_space.shape))  # [N, H, A]; some clip


@pytest.mark.parametrize("name", NATIVE)
def test_native_rollout_matches_stepping(made, name):
    env = made[name]
    env.reset(seed=5)
    for action in _actions(env, 1, 3, seed=1)[0]:  # a state with velocity and a warm start
        env.step(action)
    state, before = env.get_sim_state(), _integration_state(env)
    actions = _actions(env)
    assert env._native_controls(np.clip(actions, -1, 1)) is not None  # the fast path is taken
    traj = env.simulate(state, actions)  # [N, H, S]
    assert traj.shape == (3, 4, env.state_size)
    np.testing.assert_array_equal(_integration_state(env), before)  # simulate leaves no trace
    np.testing.assert_array_equal(env.get_sim_state(), state)
    np.testing.assert_allclose(traj, _stepped(env, state, actions), rtol=0, atol=1e-6)
    python = env._simulate_python(state, np.clip(actions, -1, 1))
    np.testing.assert_allclose(traj, python, rtol=0, atol=1e-6)


def test_native_rollout_with_contacts_and_episode_params(made):
    env = made["wall"]
    env.reset(seed=0)
    # Just left of the wall, beside a door moved to y = -0.5, pushing right into the wall.
    state = np.array([-0.12, 0.3, 0.0, 0.0, -0.5])
    actions = np.tile([1.0, 0.3], (2, 6, 1))  # [N, H, A]
    actions[1, :, 1] = 0.0
    traj = env.simulate(state, actions)
    assert np.all(traj[..., 0] < 0) and np.all(traj[..., -1] == -0.5)  # blocked; door kept
    np.testing.assert_allclose(traj, _stepped(env, state, actions), rtol=0, atol=1e-6)


def test_custom_control_step_keeps_python_path(made):
    env = made["dmc"]
    task = env._dm_env.task
    plain = type(task)

    class Pushy(plain):
        def before_step(self, action, physics):
            super().before_step(-action, physics)

    env.reset(seed=0)
    state = env.get_sim_state()
    actions = _actions(env, 2, 3)
    try:
        task.__class__ = Pushy
        assert env._native_controls(np.clip(actions, -1, 1)) is None
        np.testing.assert_allclose(
            env.simulate(state, actions), _stepped(env, state, actions), rtol=0, atol=1e-6
        )
    finally:
        task.__class__ = plain
    assert env._native_controls(np.clip(actions, -1, 1)) is not None
