"""The embedding levers of the worlds issue, each end to end under preset=debug."""

from __future__ import annotations

import json

import numpy as np
import pytest

import envs
import worldmodel
from benchmarks._common import GENERIC
from tests.conftest import run_cli

GRID = ["model.encoder=grid", "model.predictor=conv", "model.grid=4", "model.hidden=16"]
"""The spatial latent at debug size: 4x4 cells of one channel (the debug embedding is 16)."""


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.encoder=keypoints"],
        ["model.temporal_weight=0.1"],
        ["model.encoder=keypoints", "model.temporal_weight=0.1"],
        [*GRID, "model.temporal_weight=0.1"],
        ["model.action_history=true"],
        ["model.encoder=cnn_keypoints"],
        ["model.contrast_weight=1"],
        ["model.contrast_weight=1", "model.contrast_trains_predictor=false"],
        ["train.shift=2"],
        ["train.refit_steps=5"],
    ],
    ids=[
        "keypoints",
        "temporal",
        "keypoints-temporal",
        "grid-temporal",
        "action-history",
        "cnn-keypoints",
        "contrast",
        "contrast-encoder-only",
        "shift",
        "refit",
    ],
)
def test_each_lever_trains_reports_and_plans(overrides, tmp_path, cache):
    run_dir = tmp_path / "run"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        *GENERIC,  # each lever from the generic recipe, as benchmarks.world_levers runs it
        *overrides,
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    if "model.temporal_weight=0.1" in overrides:
        assert any("temporal" in r for r in rows)  # the term is in the loss and logged
    if "model.contrast_weight=1" in overrides:
        assert any("contrast" in r for r in rows)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["shift"] == (2 if "train.shift=2" in overrides else 0)
    refit = [r for r in rows if "refit/loss_last" in r]
    assert len(refit) == (1 if "train.refit_steps=5" in overrides else 0)
    probe = json.loads((run_dir / "probe.json").read_text())
    assert 0.0 <= probe["within_episode_var_share"] <= 1.0
    assert "joint_sincos" in probe["probe_r2"] and probe["effective_rank"] > 0
    out = tmp_path / "eval"
    run_cli(
        "agents.evaluate",
        "preset=debug",
        f"checkpoint={run_dir}",
        f"run_dir={out}",
        "eval.baselines=[]",
        "progress=false",
        cache=cache,
    )
    result = json.loads((out / "eval.json").read_text())
    assert result["agent_played"] and 0.0 <= result["success_rate"] <= 1.0
    model = worldmodel.load(str(run_dir), device="cpu")
    assert model.embed_dim == 16
    assert model.action_history == ("model.action_history=true" in overrides)


def test_marker_jitter_lever_trains_reports_and_plans(tmp_path, cache):
    """data.marker_jitter end to end: its own data set, a model whose diagnostics read the
    marker it was trained to ignore, and a plan on the world's task."""
    run_dir = tmp_path / "run"
    world = ["env=point_mass", "data.marker_jitter=1"]
    run_cli("worldmodel.train", "preset=debug", *world, f"run_dir={run_dir}", cache=cache)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["marker_jitter"] == 1
    probe = json.loads((run_dir / "probe.json").read_text())
    assert {"position", "target_pos"} <= set(probe["probe_r2"])
    from benchmarks import world_levers

    # the levers table labels the run with the world revision its data was collected at
    assert world_levers.trained_revision(run_dir) == envs.world_revision("point_mass") >= 2
    out = tmp_path / "eval"
    run_cli(
        "agents.evaluate",
        "preset=debug",
        "task=point_mass-goal",
        f"checkpoint={run_dir}",
        f"run_dir={out}",
        "eval.baselines=[]",
        "progress=false",
        cache=cache,
    )
    assert json.loads((out / "eval.json").read_text())["agent_played"]


def test_the_table_keeps_every_world_and_replaces_a_rerun(tmp_path, monkeypatch):
    """Each invocation trains one world: its rows replace those of the same world and lever,
    and the rows of other worlds stay in the table."""
    from benchmarks import world_levers

    monkeypatch.setattr(world_levers, "RESULTS", tmp_path)
    old = [
        {"world": "wall", "lever": "grid", "step": 2000},
        {"world": "point_mass", "lever": "grid", "step": 1000},
    ]
    (tmp_path / "world_levers.json").write_text(json.dumps({"results": old}))
    merged = world_levers.merge([{"world": "point_mass", "lever": "grid", "step": 3000}])
    assert [(r["world"], r["step"]) for r in merged] == [("point_mass", 3000), ("wall", 2000)]


def test_a_rerun_on_a_newer_world_revision_sits_beside_the_old_row(tmp_path, monkeypatch):
    """Rows of another world revision are kept, labelled, and listed newest revision first."""
    from benchmarks import world_levers

    monkeypatch.setattr(world_levers, "RESULTS", tmp_path)
    old = [{"world": "point_mass", "lever": "base", "step": 1000}]  # stored before revisions
    (tmp_path / "world_levers.json").write_text(json.dumps({"results": old}))
    new = {"world": "point_mass", "world_revision": 2, "lever": "base", "step": 1000}
    merged = world_levers.merge([new])
    assert [r.get("world_revision", 1) for r in merged] == [2, 1]
    (tmp_path / "world_levers.json").write_text(json.dumps({"results": merged}))
    again = world_levers.merge([{**new, "step": 3000}])  # same revision: replaced
    assert [(r.get("world_revision", 1), r["step"]) for r in again] == [(2, 3000), (1, 1000)]


def test_levers_start_from_the_generic_recipe_not_the_worlds():
    """point_mass's own recipe (keypoints, temporal SIGReg, jittered data) must not leak into its
    levers: each lever changes the generic recipe, so old and new rows compare alike."""
    from benchmarks.world_levers import lever_overrides
    from worldmodel.config import Config
    from worldmodel.runtime.cli import load_config

    def model_of(world: str, lever: str) -> tuple:
        cfg = load_config([f"env={world}", *lever_overrides(world, lever)], schema=Config)
        m = cfg.model
        return m.encoder, m.temporal_weight, cfg.data.marker_jitter, m.sigreg_weight

    assert model_of("point_mass", "base") == ("cnn", 0.0, 0.0, 0.1)
    assert model_of("point_mass", "keypoints") == ("keypoints", 0.0, 0.0, 0.1)
    assert model_of("point_mass", "keypoints-temporal-jitter") == ("keypoints", 0.1, 1.0, 0.1)
    assert model_of("point_mass", "keypoints-sigreg-low") == ("keypoints", 0.0, 0.0, 0.01)
    default = load_config(["env=point_mass"], schema=Config)
    # The world's recipe is the keypoints-jitter lever with SIGReg at 0.003 instead of 0.1
    # (and 4 frames and the actions between them).
    assert model_of("point_mass", "keypoints-jitter") == ("keypoints", 0.0, 1.0, 0.1)
    assert (default.model.encoder, default.data.marker_jitter) == ("keypoints", 1.0)
    assert default.model.sigreg_weight == 0.003
    target = ["env.draw_target=true"]
    jittered = load_config(
        ["env=reacher", *target, *lever_overrides("reacher-target", "temporal")], schema=Config
    )
    assert jittered.data.marker_jitter == 1.0  # reacher-target keeps its generic jitter


def test_point_mass_default_recipe_trains_end_to_end(tmp_path, cache):
    """``env=point_mass`` alone trains the world's recipe: keypoints on a data set with the
    marker jittered; the checkpoint records it as chosen."""
    run_dir = tmp_path / "run"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "env=point_mass",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    model = worldmodel.load(str(run_dir), device="cpu")
    cfg = model.info["config"]
    assert cfg["model"]["encoder"] == "keypoints" and cfg["model"]["temporal_weight"] == 0.0
    assert cfg["model"]["sigreg_weight"] == 0.003
    assert (cfg["model"]["history"], cfg["model"]["action_history"]) == (4, True)
    assert (model.history, model.action_history) == (4, True)
    assert cfg["data"]["marker_jitter"] == 1.0
    probe = json.loads((run_dir / "probe.json").read_text())
    assert "position" in probe["probe_r2_per_dim"]
    # A handful of frames: the number means nothing here, only that the probe ran on them.
    assert probe["probe_quadratic_components"] >= 1
    assert np.isfinite(probe["probe_r2_quadratic"]["position"])
    assert len(probe["probe_r2_quadratic_per_dim"]["position"]) == 2
    # point_mass's predictor reads 4 frames: the quadratic probe of the history ran too.
    assert probe["probe_history_quadratic_components"] >= 1
    assert np.isfinite(probe["probe_r2_history_quadratic"]["velocity"])
    assert len(probe["probe_r2_history_quadratic_per_dim"]["velocity"]) == 2


def test_a_dm_control_task_is_a_lever_world():
    from benchmarks.world_levers import controllable, world_settings

    assert world_settings("dmc-cheetah-run") == ["env=dmc", "env.domain=cheetah", "env.task=run"]
    assert world_settings("dmc-ball_in_cup-catch")[1:] == [
        "env.domain=ball_in_cup",
        "env.task=catch",
    ]
    assert world_settings("reacher-target") == ["env=reacher", "env.draw_target=true"]
    assert world_settings("wall") == ["env=wall"]
    assert controllable("dmc-cheetah-run") == "pose" and controllable("wall") == "position"
