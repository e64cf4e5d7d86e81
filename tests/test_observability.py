"""benchmarks.observability: what a world's frames show of its state, with no model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import observability

SMALL = ["env.image_size=32", "data.episode_length=6"]


def test_finger_spinner_looks_the_same_after_a_half_turn_and_reacher_does_not():
    """finger's spinner is drawn symmetric under a half turn (its angle shows only modulo pi),
    reacher's arm is not: the measurement must tell them apart."""
    finger = observability.measure(
        ["env=dmc", "env.domain=finger", "env.task=spin", *SMALL], 1, 0, 0.01, 2
    )
    assert finger["half_turns"]["hinge"] == 1.0
    assert finger["half_turns"]["proximal"] == 0.0
    reacher = observability.measure(["env=reacher", *SMALL], 1, 0, 0.01, 2)
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


def test_a_joint_outside_the_world_is_refused():
    with pytest.raises(Exception, match="--joint 9 is not a qpos index of point_mass"):
        observability.measure(["env=point_mass", *SMALL], 1, 9, 0.01, 2)


def test_cheetah_position_repeats_with_its_floor_and_point_mass_does_not():
    """cheetah's camera follows its torso, so its x shows only through the floor's pattern,
    which repeats every 2 m; point_mass's fixed camera sees every position."""
    cheetah = observability.measure(
        ["env=dmc", "env.domain=cheetah", "env.task=run", *SMALL], 1, 0, 0.01, 1, 0.5, 2.0
    )
    assert cheetah["slide_periods"]["rootx"] == 2.0
    assert cheetah["slide_periods"]["rootz"] is None
    point_mass = observability.measure(["env=point_mass", *SMALL], 1, 0, 0.01, 1, 0.1, 0.3)
    assert point_mass["slide_periods"] == {"root_x": None, "root_y": None}


def test_probe_ceiling_matches_a_hand_computed_case():
    """x uniform on [-2, 2) seen modulo 2: x is the phase or the phase - 2, equally likely, so
    the best guess errs by 1 everywhere; R^2 = 1 - 1 / Var(x) = 1 - 1 / (4/3) = 0.25. A column
    that does not depend on x counts as read exactly."""
    rng = np.random.default_rng(0)
    states = np.stack([rng.uniform(-2, 2, 40000), rng.normal(size=40000)], 1)  # [N, 2]
    out = observability.probe_ceiling(lambda s: {"both": s.copy()}, states, "both", {"x": (0, 2.0)})
    assert out["ceiling_per_column"][0] == pytest.approx(0.25, abs=0.02)
    assert out["ceiling_per_column"][1] == 1.0 and out["hidden_columns"] == [0]
    weight = states[:, 0].var() / states.var(0).sum()
    assert out["ceiling"] == pytest.approx(1 - 0.75 * weight, abs=0.02)
    # nothing hidden: every column is read
    assert observability.probe_ceiling(lambda s: {"both": s}, states, "both", {})["ceiling"] == 1


def test_finger_probe_ceiling_loses_the_spinner_and_point_mass_loses_nothing():
    finger = observability.measure(
        ["env=dmc", "env.domain=finger", "env.task=spin", *SMALL], 2, 0, 0.01, 1
    )
    ceiling = finger["probe_ceiling"]
    assert ceiling["feature"] == "pose" and set(ceiling["hidden"]) == {"hinge"}
    assert ceiling["hidden"]["hinge"] == pytest.approx(np.pi)
    # pose is [sin, cos] of (proximal, distal, spinner): only the spinner's columns can fall short
    assert ceiling["hidden_columns"] == [2, 5]
    assert 0 < ceiling["ceiling"] < 1
    assert [c for c, r2 in enumerate(ceiling["ceiling_per_column"]) if r2 < 1] == [2, 5]
    point_mass = observability.measure(["env=point_mass", *SMALL], 1, 0, 0.01, 1, 0.1, 0.3)
    assert point_mass["probe_ceiling"]["ceiling"] == 1.0
    assert point_mass["probe_ceiling"]["hidden"] == {}
    assert point_mass["probe_ceiling"]["hidden_columns"] == []
