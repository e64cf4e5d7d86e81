"""benchmarks.observability: what a world's frames show of its state, with no model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import observability
from tests.conftest import run_cli

SMALL = ["env.image_size=32", "data.episode_length=6"]


def test_finger_spinner_looks_the_same_after_a_half_turn_and_reacher_does_not():
    """finger's spinner is drawn symmetric under a half turn (its angle shows only modulo pi),
    reacher's arm is not: the measurement must tell them apart."""
    finger = observability.measure(
        ["env=dmc", "env.domain=finger", "env.task=spin", *SMALL], 2, 0, 0.01, 2
    )
    assert finger["half_turns"]["hinge"] == 1.0
    assert finger["half_turns"]["proximal"] == 0.0
    reacher = observability.measure(["env=reacher", *SMALL], 2, 0, 0.01, 2)
    assert set(reacher["half_turns"]) == {"shoulder", "wrist"}
    assert max(reacher["half_turns"].values()) == 0.0


def test_point_mass_scales_and_sweep_are_measured(tmp_path):
    out = tmp_path / "pm.json"
    observability.main(
        ["env=point_mass", *SMALL, "--episodes", "2", "--steps", "3", "--out", str(out)]
    )
    row = json.loads(out.read_text())
    assert row["feature"] == "position" and row["half_turns"] == {}  # slide joints only
    assert set(row["slide_periods"]) == {"root_x", "root_y"}
    std = row["scales"]["std_per_column"]
    assert len(std) == 2 and all(s > 0 for s in std)
    moves = row["scales"]["median_move"]
    assert 0 < moves["1"] < moves["5"]
    assert row["sweep"]["steps"] == 3 and row["sweep"]["max_pixel_change_max"] > 0
    assert row["render_ms"] > 0 and row["supersample"] == 4 and "commit" in row["machine"]
    plain = row["without_supersampling"]
    assert plain["render_ms"] > 0 and plain["sweep"]["steps"] == 3


def test_cheetah_floor_ends_behind_its_start():
    """The floor repeats every 2 m but ends 2 m behind the start: a cheetah 1.5 m behind shows
    where it is, one ahead does not."""
    from envs import make

    env = make("dmc", domain="cheetah", task="run", image_size=32)
    try:
        env.reset(seed=0)
        states = np.repeat(env.get_sim_state()[None], 3, axis=0)
        states[:, 0] = [-1.5, 0.5, 1.0]
        found = observability.slide_periods(env, states, 0.5, 2.0)
    finally:
        env.close()
    assert found["rootx"]["period"] == 2.0
    assert found["rootx"]["share"] == pytest.approx(2 / 3)


def test_a_joint_outside_the_world_is_refused():
    with pytest.raises(Exception, match="--joint 9 is not a qpos index of point_mass"):
        observability.measure(["env=point_mass", *SMALL], 1, 9, 0.01, 2)


def test_cheetah_position_repeats_with_its_floor_and_point_mass_does_not():
    """cheetah's camera follows its torso, so its x shows only through the floor's pattern,
    which repeats every 2 m; point_mass's fixed camera sees every position."""
    cheetah = observability.measure(
        ["env=dmc", "env.domain=cheetah", "env.task=run", *SMALL], 2, 0, 0.01, 1, 0.5, 2.0
    )
    # at the start the floor is seen modulo 2 m, so x is hidden there (at 32 px, 2 x 7 states)
    assert cheetah["modulo_r2"]["hidden"] == {"rootx": 2.0}
    assert cheetah["slide_periods"]["rootx"]["period"] == 2.0
    assert cheetah["slide_periods"]["rootz"] == {"period": None, "share": 0.0}
    point_mass = observability.measure(["env=point_mass", *SMALL], 2, 0, 0.01, 1, 0.1, 0.3)
    nothing = {"period": None, "share": 0.0}
    assert point_mass["slide_periods"] == {"root_x": nothing, "root_y": nothing}


def test_modulo_r2_matches_a_hand_computed_case():
    """x uniform on [-2, 2) seen modulo 2: x is the phase or the phase - 2, equally likely, so
    the best guess errs by 1 everywhere; R^2 = 1 - 1 / Var(x) = 1 - 1 / (4/3) = 0.25. A column
    that does not depend on x counts as read exactly."""
    rng = np.random.default_rng(0)
    states = np.stack([rng.uniform(-2, 2, (400, 50)), rng.normal(size=(400, 50))], -1)
    out = observability.modulo_r2(lambda s: {"both": s.copy()}, states, "both", {"x": (0, 2.0)})
    assert out["r2_per_column"][0] == pytest.approx(0.25, abs=0.02)
    assert out["r2_per_column"][1] == 1.0 and out["hidden_columns"] == [0]
    weight = states[..., 0].var() / states.reshape(-1, 2).var(0).sum()
    assert out["r2"] == pytest.approx(1 - 0.75 * weight, abs=0.02)
    # nothing hidden: every column is read
    assert observability.modulo_r2(lambda s: {"both": s}, states, "both", {})["r2"] == 1
    # an episode constant is scored on held-out episodes, so its 400 values, one per episode,
    # buy no free fit: at most the 0.25 above (a fit on the same episodes would score more)
    constant = np.repeat(rng.uniform(-2, 2, (400, 1, 1)), 50, axis=1)  # [E, T, 1]
    held_out = observability.modulo_r2(lambda s: {"x": s}, constant, "x", {"x": (0, 2.0)})
    assert held_out["r2"] < 0.27


def test_finger_loses_the_spinner_modulo_pi_and_point_mass_loses_nothing():
    finger = observability.measure(
        ["env=dmc", "env.domain=finger", "env.task=spin", *SMALL], 2, 0, 0.01, 1
    )
    mod = finger["modulo_r2"]
    assert mod["feature"] == "pose" and set(mod["hidden"]) == {"hinge"}
    assert mod["hidden"]["hinge"] == pytest.approx(np.pi)
    # pose is [sin, cos] of (proximal, distal, spinner): only the spinner's columns can fall short
    assert mod["hidden_columns"] == [2, 5]
    assert [c for c, r2 in enumerate(mod["r2_per_column"]) if r2 < 1] == [2, 5]
    point_mass = observability.measure(["env=point_mass", *SMALL], 2, 0, 0.01, 1, 0.1, 0.3)
    assert point_mass["modulo_r2"]["r2"] == 1.0
    assert point_mass["modulo_r2"]["hidden"] == {}
    assert point_mass["modulo_r2"]["hidden_columns"] == []


def test_one_episode_is_refused_with_the_fix(capsys):
    with pytest.raises(SystemExit):
        observability.main(["env=point_mass", "--episodes", "1"])
    assert "--episodes must be at least 2" in capsys.readouterr().err


def test_shown_folds_each_hidden_coordinate_by_its_period():
    """cheetah's x seen modulo its floor's 2 m: x and x + 2 give the same `shown` row, x + 1 its
    opposite phase; the pitch (a hinge that turns over) is its sine and cosine, the limited
    joints stay angles."""
    from envs import make

    env = make("dmc", domain="cheetah", task="run", image_size=32)
    try:
        env.reset(seed=0)
        features, names = observability.shown_features(env, {"rootx": (0, 2.0)})
        states = np.repeat(env.get_sim_state()[None], 3, axis=0)
        states[:, 0] = [0.5, 2.5, 1.5]
        shown = features(states)["shown"]
    finally:
        env.close()
    assert names[:5] == ["sin 2pi rootx/2", "cos 2pi rootx/2", "rootz", "sin rooty", "cos rooty"]
    assert names[5:] == ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"]
    assert shown.shape == (3, len(names))
    np.testing.assert_allclose(shown[0], shown[1], atol=1e-9)
    np.testing.assert_allclose(shown[0, :2], [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(shown[2, :2], [-1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(shown[0, 5:], states[0, 3:9])


def test_shown_probe_reads_a_model_of_the_world_and_refuses_another(tmp_path, cache, tiny_run):
    """End to end on a debug finger model: the spinner, which looks the same after a half turn,
    is probed as its doubled angle, the finger's two joints as angles; a reacher model is
    refused for finger with the world it is of."""
    run = tmp_path / "finger"
    finger = ["env=dmc", "env.domain=finger", "env.task=spin"]
    run_cli("worldmodel.train", "preset=debug", *finger, f"run_dir={run}", cache=cache)
    out = tmp_path / "shown.json"
    args = [*finger, *SMALL, "--episodes", "2", "--steps", "1", "--period-max", "0.1"]
    observability.main([*args, "--checkpoint", str(run), "--out", str(out)])
    row = json.loads(out.read_text())["shown_probe"]
    assert row["hidden"] == {"hinge": pytest.approx(np.pi)}
    assert row["columns"] == ["proximal", "distal", "sin 2pi hinge/3.142", "cos 2pi hinge/3.142"]
    stats = row["probe"]
    assert len(stats["probe_r2_per_dim"]["shown"]) == 4
    assert {"shown", "qpos", "pose", "angles"} <= set(stats["probe_r2"])
    with pytest.raises(Exception, match="is a model of reacher, not of dmc-finger-spin"):
        observability.main([*args, "--checkpoint", str(tiny_run)])
