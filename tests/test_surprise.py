"""Surprise: the fault suite (worldmodel.faults), WorldModel.surprise, and benchmarks.surprise."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

import envs
from benchmarks.surprise import (
    alarm_threshold,
    auc_standard_error,
    detection_delays,
    episode_scores,
    roc_auc,
    size_row,
)
from tests.conftest import run_cli
from worldmodel.api import load
from worldmodel.faults import (
    FAULTS,
    _start_fault,
    estimate_velocity_std,
    fault_shift,
    model_restored,
    play_episode,
    step_motion,
)
from worldmodel.model import WorldModel
from worldmodel.runtime.errors import InputError
from worldmodel.surprise import by_decision

SEED = 7


@pytest.fixture(scope="module")
def env():
    world = envs.make("reacher", image_size=16)
    yield world
    world.close()


@pytest.fixture(scope="module")
def vel_std(env):
    return estimate_velocity_std(env, episodes=3)  # [nv]


@pytest.fixture(scope="module")
def normal(env):
    return play_episode(env, SEED)


def _model_fields(env) -> dict[str, np.ndarray]:
    m = env.physics.model
    return {
        "body_mass": m.body_mass.copy(),
        "body_inertia": m.body_inertia.copy(),
        "geom_rgba": m.geom_rgba.copy(),
        "mat_rgba": m.mat_rgba.copy(),
        "dof_M0": m.ptr.dof_M0.copy(),
    }


# ---- the fault suite ----------------------------------------------------------------------------


def test_normal_episode_shapes_and_fault_window(normal, env):
    t = 100
    assert normal.frames.shape == (t + 1, 16, 16, 3) and normal.frames.dtype == np.uint8
    assert normal.actions.shape == (t, 2) and normal.states.shape == (t + 1, env.state_size)
    assert np.array_equal(normal.applied, normal.actions)
    assert 20 <= normal.fault_step <= 80 and normal.fault is None


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_leaves_the_prefix_and_later_normal_episodes_untouched(env, vel_std, normal, fault):
    before = _model_fields(env)
    ep = play_episode(env, SEED, fault, velocity_std=vel_std)
    k = ep.fault_step
    assert k == normal.fault_step  # the decision is drawn the same way in normal episodes
    assert np.array_equal(ep.states[: k + 1], normal.states[: k + 1])
    assert np.array_equal(ep.frames[: k + 1], normal.frames[: k + 1])
    assert np.array_equal(ep.actions, normal.actions)  # the policy's commands do not depend on it
    if fault == "colour":  # a control: the physics is untouched, the frames are not
        assert np.array_equal(ep.states, normal.states)
        assert (ep.frames[k + 1 :] != normal.frames[k + 1 :]).any(axis=(1, 2, 3)).all()
    else:
        assert not np.allclose(ep.states[k + 1 :], normal.states[k + 1 :])
    after = _model_fields(env)  # masses, colours and MuJoCo's cached mass matrix restored
    assert all(np.array_equal(before[name], after[name]) for name in before)
    again = play_episode(env, SEED)
    assert np.array_equal(again.states, normal.states)
    assert np.array_equal(again.frames, normal.frames)


def test_push_and_teleport_jump_as_defined(env, vel_std, normal):
    nq, nv = env.physics.model.nq, env.physics.model.nv
    k = normal.fault_step
    fault_rng = lambda: np.random.default_rng(np.random.SeedSequence(SEED).spawn(3)[2])  # noqa: E731
    kicked = normal.states[k].copy()
    kicked[nq : nq + nv] += fault_rng().normal(0.0, 5.0 * vel_std, nv)
    moved = normal.states[k].copy()
    moved[:nq] = env.sample_start(fault_rng())[:nq]  # positions only; velocities and target stay
    for fault, start in (("push", kicked), ("teleport", moved)):
        ep = play_episode(env, SEED, fault, velocity_std=vel_std)
        expected = env.simulate(start, ep.actions[None, k : k + 1])[0, 0]  # [S]
        np.testing.assert_allclose(ep.states[k + 1], expected, atol=1e-8)


def test_push_kick_scale_follows_velocity_spread(env, vel_std):
    assert vel_std.shape == (env.physics.model.nv,) and (vel_std > 0).all()
    rng = np.random.default_rng(0)
    kicks = []
    env.reset(seed=0)
    state = env.get_sim_state()
    for _ in range(200):
        env.set_sim_state(state)
        before = env.physics.data.qvel.copy()
        _start_fault(env, "push", rng, vel_std)
        kicks.append(env.physics.data.qvel - before)
    np.testing.assert_allclose(np.std(kicks, axis=0) / vel_std, 5.0, rtol=0.2)


def test_mass_triples_every_body_until_the_episode_ends(env):
    model = env.physics.model
    before = _model_fields(env)
    env.reset(seed=0)
    with model_restored(env):
        state = env.get_sim_state()
        _start_fault(env, "mass", np.random.default_rng(0), None)
        np.testing.assert_allclose(model.body_mass, 3 * before["body_mass"])
        np.testing.assert_allclose(model.body_inertia, 3 * before["body_inertia"])
        np.testing.assert_allclose(model.ptr.dof_M0, 3 * before["dof_M0"])  # MuJoCo's cache too
        np.testing.assert_array_equal(env.get_sim_state(), state)  # mj_setConst kept the state
    after = _model_fields(env)
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_dead_actuator_ignores_actions(env, normal):
    ep = play_episode(env, SEED, "dead-actuator")
    k = ep.fault_step
    assert np.array_equal(ep.applied[:k], ep.actions[:k])
    assert not ep.applied[k:].any() and ep.actions[k:].any()
    zeros = np.zeros((1, 100 - k, 2))
    np.testing.assert_allclose(ep.states[k + 1 :], env.simulate(ep.states[k], zeros)[0], atol=1e-8)


def test_unknown_fault_is_refused(env):
    with pytest.raises(InputError, match="unknown fault 'gravity'"):
        play_episode(env, 0, "gravity")


# ---- WorldModel.surprise ------------------------------------------------------------------------


class _CopyLast(nn.Module):
    """Predicts that nothing changes: history [B, T, D], action [B, A] -> history[:, -1]."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, history, action):
        return history[:, -1] + 0 * self.dummy


def _identity_model(history: int = 2) -> WorldModel:
    """Embeddings are the pixels (frames_to_input of 4x4 frames, D = 48); the predictor copies the
    last one, so surprise is the mean squared pixel change of each step."""
    return WorldModel(
        nn.Flatten(), _CopyLast(), image_size=4, action_dim=2, history=history, embed_dim=48
    )


def _ramp(t: int, jump_after: int | None = None) -> np.ndarray:
    """Frames [t+1, 4, 4, 3] that brighten by 1 per frame; +100 from frame jump_after + 1 on."""
    values = np.arange(t + 1, dtype=np.float64) + 20
    if jump_after is not None:
        values[jump_after + 1 :] += 100
    return np.broadcast_to(values[:, None, None, None], (t + 1, 4, 4, 3)).astype(np.uint8)


def test_surprise_is_the_one_step_error_and_peaks_at_a_jump():
    model, t, j = _identity_model(history=2), 30, 12
    actions = np.zeros((t, 2), np.float32)
    smooth = model.surprise(_ramp(t), actions)
    jump = model.surprise(_ramp(t, jump_after=j), actions)
    assert smooth.shape == jump.shape == (t - 2 + 1,)
    torch.testing.assert_close(smooth, torch.full_like(smooth, (1 / 255) ** 2))
    assert int(jump.argmax()) == j - (model.history - 1)  # entry i is decision i + history - 1
    assert jump.max() > 1000 * smooth.max()
    batched = model.surprise(np.stack([_ramp(t), _ramp(t, j)]), np.stack([actions, actions]))
    assert batched.shape == (2, t - 1)
    torch.testing.assert_close(batched[1], jump)


def test_normalised_surprise_uses_the_calibration():
    model, t = _identity_model(), 20
    actions = np.zeros((t, 2), np.float32)
    with pytest.raises(InputError, match="calibrate_surprise"):
        model.surprise(_ramp(t), actions, normalize=True)
    frames = np.stack([_ramp(t), _ramp(t, 5)])
    mean, std = model.calibrate_surprise(frames, np.stack([actions, actions]))
    raw = model.surprise(_ramp(t, 5), actions)
    torch.testing.assert_close(
        model.surprise(_ramp(t, 5), actions, normalize=True), (raw - mean) / std
    )


@pytest.mark.parametrize("horizon", [2, 4])
def test_surprise_over_a_horizon_compares_the_open_loop_prediction(horizon):
    # Copy-last open loop over k decisions predicts the frame k steps back: a ramp reads
    # (k/255)^2, and a jump stays visible for the k decisions whose prediction starts before it.
    model, t, j = _identity_model(history=2), 30, 12
    actions = np.zeros((t, 2), np.float32)
    smooth = model.surprise(_ramp(t), actions, horizon=horizon)
    assert smooth.shape == (t - model.history - horizon + 2,)
    torch.testing.assert_close(smooth, torch.full_like(smooth, (horizon / 255) ** 2))
    per_decision = by_decision(model.surprise(_ramp(t, j), actions, horizon=horizon), 2, horizon)
    assert per_decision.shape == (t,) and np.isnan(per_decision[:horizon]).all()
    assert np.flatnonzero(per_decision > 0.01).tolist() == list(range(j, j + horizon))


def test_surprise_horizon_is_checked():
    model, t = _identity_model(), 10
    actions = np.zeros((t, 2), np.float32)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InputError, match="horizon"):
            model.surprise(_ramp(t), actions, horizon=bad)
    with pytest.raises(InputError, match="T = 10 decisions"):
        model.surprise(_ramp(t), actions, horizon=10)  # needs T >= history + horizon - 1 = 11
    model.calibrate_surprise(_ramp(t)[None], actions[None])
    with pytest.raises(InputError, match="horizon 1, not 3"):
        model.surprise(_ramp(t), actions, normalize=True, horizon=3)
    mean, std = model.calibrate_surprise(_ramp(t)[None], actions[None], horizon=3)
    raw = model.surprise(_ramp(t), actions, horizon=3)
    torch.testing.assert_close(
        model.surprise(_ramp(t), actions, normalize=True, horizon=3), (raw - mean) / std
    )


@pytest.mark.parametrize(
    ("frames_shape", "actions_shape", "match"),
    [
        ((11, 4, 4), (10, 2), "got frames"),
        ((11, 8, 8, 3), (10, 2), "got frames"),
        ((11, 4, 4, 3), (10, 3), "got actions"),
        ((11, 4, 4, 3), (11, 2), "T\\+1 frames"),
        ((2, 11, 4, 4, 3), (3, 10, 2), "T\\+1 frames"),
        ((2, 11, 4, 4, 3), (10, 2), "got actions"),
        ((2, 4, 4, 3), (1, 2), "T = 1 decisions"),
    ],
)
def test_surprise_refuses_bad_shapes(frames_shape, actions_shape, match):
    with pytest.raises(InputError, match=match):
        _identity_model().surprise(np.zeros(frames_shape, np.uint8), np.zeros(actions_shape))


# ---- scores of the benchmark --------------------------------------------------------------------


def test_roc_auc_on_known_scores():
    assert roc_auc([3, 4, 5], [1, 2, 3]) == pytest.approx(8.5 / 9)  # one tie counts 1/2
    assert roc_auc([2, 3], [0, 1]) == 1.0 and roc_auc([0, 1], [2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5


def test_alarm_threshold_gives_five_percent_false_alarms():
    normal = np.arange(200.0)
    threshold = alarm_threshold(normal)
    assert threshold == 189.0 and np.mean(normal > threshold) == 0.05
    assert alarm_threshold(np.arange(20.0)) == 18.0  # one of 20 above
    assert alarm_threshold(np.arange(4.0)) == 3.0  # none can be above with 4


def test_scores_and_delays_count_from_the_fault_decision():
    nan = np.nan
    s = np.array(
        [
            [nan, 9.0, 0.0, 0.0, 2.0, 5.0],  # 9 before its decision 2 does not count
            [nan, 0.0, 0.0, 0.0, 0.0, 0.0],  # never above
            [nan, 0.0, 4.0, 0.0, 0.0, 0.0],  # above at its decision: delay 0
        ]
    )
    steps = np.array([2, 2, 2])
    np.testing.assert_array_equal(episode_scores(s, steps), [5.0, 0.0, 4.0])
    np.testing.assert_array_equal(detection_delays(s, steps, 1.0), [2.0, nan, 0.0])


def test_fault_shift_measures_the_first_frame_that_shows_the_fault(env, vel_std, normal):
    ep = play_episode(env, SEED, "push", velocity_std=vel_std)
    k, nq = ep.fault_step, env.physics.model.nq
    gap = np.abs(ep.states[k + 1, :nq] - normal.states[k + 1, :nq])  # no wrap needed this close
    shift = fault_shift(env, SEED, "push", velocity_std=vel_std)
    assert shift > 0 and shift == pytest.approx(gap.max())
    assert fault_shift(env, SEED, "colour") == 0.0  # the control moves nothing
    assert not env.blind  # the blind replay is undone


def test_step_motion_wraps_hinge_angles(env, normal):
    motion = step_motion(env, normal)  # [T]
    assert motion.shape == (100,) and (motion >= 0).all() and motion.max() > 0
    twisted = normal.states.copy()
    twisted[1:, 0] += 2 * np.pi  # a full turn of the shoulder hinge is no motion
    ep = dataclasses.replace(normal, states=twisted)
    np.testing.assert_allclose(step_motion(env, ep)[1:], motion[1:], atol=1e-9)
    assert step_motion(env, ep)[0] == pytest.approx(motion[0], abs=1e-9)


def test_auc_standard_error_matches_a_hand_count():
    # Hanley and McNeil 1982, A = 0.9, 50 + 50: Q1 = 0.9 / 1.1, Q2 = 1.62 / 1.9
    q1, q2 = 0.9 / 1.1, 2 * 0.81 / 1.9
    hand = ((0.09 + 49 * (q1 - 0.81) + 49 * (q2 - 0.81)) / 2500) ** 0.5
    assert auc_standard_error(0.9, 50, 50) == pytest.approx(hand)
    assert auc_standard_error(0.9, 200, 200) < auc_standard_error(0.9, 50, 50)
    assert auc_standard_error(1.0, 200, 200) == 0.0


def test_size_row_splits_detection_at_a_normal_decisions_motion():
    shifts = np.array([0.05, 0.1, 0.3, 0.5, 0.7])
    detected = np.array([False, True, True, True, False])
    row = size_row(shifts, detected, step_median=0.2)
    assert row["shift_below_step_median"] == pytest.approx(0.4)
    assert row["detected_below_step_median"] == pytest.approx(0.5)
    assert row["detected_above_step_median"] == pytest.approx(2 / 3)
    assert row["shift_median"] == pytest.approx(0.3)
    assert size_row(shifts, detected, step_median=0.01)["detected_below_step_median"] is None


# ---- the command --------------------------------------------------------------------------------


def test_benchmark_runs_end_to_end(tiny_run, cache, tmp_path):
    out = tmp_path / "surprise.json"
    ckpt = f"checkpoint={tiny_run / 'checkpoint.pt'}"
    run_cli(
        "benchmarks.surprise", ckpt, "--episodes", "2", "--faults", "teleport",
        "--horizons", "1", "3", "--device", "cpu", "--out", str(out), cache=cache,
    )  # fmt: skip
    payload = json.loads(out.read_text())
    assert payload["world"] == "reacher" and payload["episodes"] == 2 and payload["smoke"] is True
    assert payload["horizon"] == 1 and set(payload["by_horizon"]) == {"1", "3"}
    assert payload["by_horizon"]["1"] == payload["faults"]
    assert isinstance(payload["protocol_version"], int) and payload["checkpoint"].endswith(".pt")
    assert set(payload["faults"]) == {"teleport"}
    for row in payload["faults"].values():
        assert 0.0 <= row["auc"] <= 1.0 and row["episodes"] == 2 and row["auc_se"] >= 0
        assert row["shift_median"] > 0 and 0.0 <= row["shift_below_step_median"] <= 1.0
        assert len(row["per_episode"]["score"]) == len(row["per_episode"]["shift"]) == 2
        assert row["delay_steps"] is None or row["delay_steps"] >= 0
    assert len(payload["normal_scores"]) == 2
    motion = payload["settings"]["step_motion"]
    assert motion["p95"] >= motion["median"] > 0
    assert {"date", "commit", "cores"} <= set(payload["machine"])
    assert (tmp_path / "surprise.png").stat().st_size > 0

    meta = load(str(tiny_run / "checkpoint.pt"), device="cpu").info["env"]
    world = envs.make(meta["name"], **meta["kwargs"])
    ep = play_episode(world, 3, "teleport")
    world.close()
    # The horizon-3 surprise is the trained model's own 3-step rollout from the true history
    # (with the actions between the history's frames, for a predictor that reads them).
    model, k = load(str(tiny_run / "checkpoint.pt"), device="cpu"), 3
    z, a, h = model.encode(ep.frames), torch.as_tensor(ep.actions).float(), model.history
    s3 = model.surprise(ep.frames, ep.actions, horizon=k)
    for j in (0, 40):
        pred = model.rollout(z[None, j : j + h], a[None, j + h - 1 : j + h - 1 + k],
                             a[None, j : j + h - 1])[0, -1]  # fmt: skip
        torch.testing.assert_close(s3[j], (pred - z[j + h + k - 1]).pow(2).mean())
    np.savez(tmp_path / "ep.npz", frames=ep.frames, actions=ep.actions, fault_step=ep.fault_step)
    proc = run_cli(
        "benchmarks.surprise", ckpt, "--episode", str(tmp_path / "ep.npz"), "--device", "cpu",
        cache=cache,
    )  # fmt: skip
    assert "peak surprise" in proc.stdout and (tmp_path / "ep_surprise.png").exists()

    bad = run_cli("benchmarks.surprise", ckpt, "--faults", "gravity", cache=cache, check=False)
    assert bad.returncode == 2 and "unknown fault(s) ['gravity']" in bad.stderr
    assert "Traceback" not in bad.stderr
