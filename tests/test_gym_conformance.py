"""Gymnasium conventions a user's own script relies on: time limits, wrapper specs, check_env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import AddRenderObservation

import envs
from agents.rl.representation import JEPAObservation, StateObservation

SIZE = 16
WARNINGS = "ignore:.*(infinity|unwrapped version|is not within the observation).*:UserWarning"


@pytest.mark.parametrize("name", list(envs.GYM_IDS))
def test_registered_ids_have_a_time_limit(name):
    spec = gym.spec(envs.GYM_IDS[name])
    assert spec.max_episode_steps == envs.MAX_EPISODE_STEPS == 200
    assert "max_episode_steps=200" in envs.__doc__  # the choice is stated


def test_a_standard_loop_ends_its_episode():
    env = gym.make("worldmodel/Wall-v0", image_size=SIZE, max_episode_steps=7)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps, done = steps + 1, terminated or truncated
        assert steps <= 7
    assert steps == 7 and truncated
    env.close()


@pytest.mark.filterwarnings(WARNINGS)
def test_jepa_wrapper_on_a_shimmy_id_passes_check_env_and_rebuilds_from_spec(tiny_run):
    shimmy = pytest.importorskip("shimmy")
    gym.register_envs(shimmy)
    base = gym.make(
        "dm_control/reacher-easy-v0",
        render_mode="rgb_array",
        render_kwargs={"width": 32, "height": 32},
    )
    checkpoint = str(tiny_run / "checkpoint.pt")
    env = JEPAObservation(AddRenderObservation(base, render_only=True), checkpoint, device="cpu")
    check_env(env, skip_render_check=True)
    assert env.spec.additional_wrappers[-1].kwargs == {
        "model_or_path": checkpoint,
        "device": "cpu",
        "frame_history": None,
    }
    again = gym.make(env.spec)
    assert isinstance(again, JEPAObservation)
    assert again.observation_space == env.observation_space
    obs, _ = again.reset(seed=0)
    ref, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs, ref, atol=1e-5)
    env.close()
    again.close()


@pytest.mark.filterwarnings(WARNINGS)
def test_state_wrapper_passes_check_env_and_rebuilds_from_spec():
    env = StateObservation(gym.make("worldmodel/Reacher-v0", image_size=SIZE))
    check_env(env, skip_render_check=True)
    again = gym.make(env.spec)
    assert isinstance(again, StateObservation) and again.spec.max_episode_steps == 200
    obs, _ = again.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    env.close()
    again.close()
