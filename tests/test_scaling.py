"""Scaling sweeps (benchmarks.scaling): the power-law fit, the FLOP count against hand counts,
data.train_episodes, and the command end to end under preset=debug."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.scaling import fit_power_law, t_quantile
from tests.conftest import run_cli
from tests.test_data import write_dataset
from worldmodel import data as D
from worldmodel.config import DataConfig, ModelConfig
from worldmodel.flops import count_flops, training_step_flops
from worldmodel.model import JEPA
from worldmodel.runtime.errors import ConfigError

# ---- the fit ------------------------------------------------------------------------------------


def test_t_quantiles_match_the_tables():
    for dof, table in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (30, 2.0423)):
        assert t_quantile(0.975, dof) == pytest.approx(table, abs=2e-4)


def test_power_law_fit_recovers_a_known_exponent():
    x = np.geomspace(1e6, 1e9, 12)
    exact = fit_power_law(x, 3.0 * x**-0.35)
    assert exact["alpha"] == pytest.approx(0.35) and exact["a"] == pytest.approx(3.0)
    assert exact["r2"] == pytest.approx(1.0) and exact["points"] == 12

    noise = np.exp(np.random.default_rng(0).normal(0, 0.05, x.size))
    fit = fit_power_law(x, 3.0 * x**-0.35 * noise)
    lo, hi = fit["alpha_ci95"]
    assert abs(fit["alpha"] - 0.35) < 0.02 and lo < 0.35 < hi and hi - lo < 0.05
    assert fit["r2"] > 0.98


def test_the_exponents_interval_covers_it_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    x = np.geomspace(10, 1e4, 6)
    hits = 0
    for _ in range(400):
        lo, hi = fit_power_law(x, 2.0 * x**-0.5 * np.exp(rng.normal(0, 0.2, x.size)))["alpha_ci95"]
        hits += lo < 0.5 < hi
    assert 0.92 <= hits / 400 <= 0.98


def test_fit_refuses_what_has_no_power_law():
    with pytest.raises(ValueError, match="two distinct x"):
        fit_power_law([5.0, 5.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1.0, 2.0], [1.0, -1.0])
    assert fit_power_law([1.0, 2.0], [2.0, 1.0])["alpha_ci95"] is None  # no degree of freedom


# ---- the FLOP count -----------------------------------------------------------------------------


def test_flops_of_linear_layers_and_a_convolution_match_a_hand_count():
    mlp = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    x = torch.randn(7, 10, requires_grad=True)
    forward = 2 * 7 * (10 * 20 + 20 * 5)  # 2 x batch x in x out per layer
    assert count_flops(lambda: mlp(x)) == forward
    # backward: the gradient of each layer's input and of its weight, each as big as the forward
    assert count_flops(lambda: mlp(x).sum(), backward=True) == 3 * forward

    conv = nn.Conv2d(3, 4, 3, padding=1)
    img = torch.randn(2, 3, 8, 8, requires_grad=True)
    forward = 2 * 2 * (8 * 8) * 4 * (3 * 3 * 3)  # 2 x batch x output pixels x out x (in x k x k)
    assert count_flops(lambda: conv(img)) == forward
    assert count_flops(lambda: conv(img).sum(), backward=True) == 3 * forward


def test_training_step_flops_of_a_tiny_jepa_match_a_hand_count():
    """The debug preset's model: 32 px, CNN channels 8, D = 16, MLP predictor of depth 2 and
    width 32, history 2, K = 3 rollout steps, SIGReg with 32 projections, inverse dynamics."""
    cfg = ModelConfig(channels=8, embed_dim=16, hidden=32, depth=2, sigreg_projections=32)
    b, length, actions = 4, 5, 2
    images = b * length
    # Encoder, per image: four 4x4 stride-2 convolutions (2 x out pixels x out ch x in ch x 16)
    # and the head, Linear(64 channels x 2 x 2 -> 16).
    convs = [
        2 * 16 * 16 * 8 * 3 * 16,
        2 * 8 * 8 * 16 * 8 * 16,
        2 * 4 * 4 * 32 * 16 * 16,
        2 * 2 * 2 * 64 * 32 * 16,
    ]
    head = 2 * 256 * 16
    # docs/protocol.md: a training step is 3 x its forward pass.
    encoder = 3 * (sum(convs) + head)
    # Predictor: Linear(2 x 16 + 2 -> 32), Linear(32 -> 16); K teacher-forced and K rollout
    # calls per sequence.
    predictor = 3 * 2 * (34 * 32 + 32 * 16) * 2 * 3 * b
    # Inverse dynamics: Linear(2 x 16 -> 32), Linear(32 -> 2) on L - 1 pairs per sequence.
    idm = 3 * 2 * (32 * 32 + 32 * actions) * (length - 1) * b
    # SIGReg's projection z [N, 16] @ dirs [16, 32].
    sigreg = 3 * 2 * images * 16 * 32
    hand = images * encoder + predictor + idm + sigreg
    model = JEPA(cfg, 32, actions)
    counted = training_step_flops(
        model, batch_size=b, length=length, image_size=32, action_dim=actions
    )
    assert counted == hand
    assert all(p.grad is None for p in model.parameters())  # no gradient was made
    meta = training_step_flops(
        JEPA(cfg, 32, actions).to("meta"),
        batch_size=b,
        length=length,
        image_size=32,
        action_dim=actions,
        device="meta",
    )
    assert meta == hand  # the sweep counts on the meta device: shapes only


# ---- data.train_episodes ------------------------------------------------------------------------


def test_train_episodes_keeps_the_first_ones_and_the_same_held_out_episodes(tmp_path):
    write_dataset(tmp_path)  # 6 episodes
    ds = D.EpisodeDataset(tmp_path)
    train, val = ds.split(0.34)
    few, same_val = ds.split(0.34, train_episodes=2)
    assert list(few) == [0, 1] and list(same_val) == list(val) == [4, 5]
    assert list(ds.split(0.34, train_episodes=4)[0]) == list(train)
    with pytest.raises(D.DatasetError, match=r"data.train_episodes=5 .* holds 4 training"):
        ds.split(0.34, train_episodes=5)
    with pytest.raises(ConfigError, match="data.train_episodes must be >= 1"):
        DataConfig(train_episodes=0)


def test_train_refuses_more_training_episodes_than_the_data_set_holds(cache, tmp_path):
    proc = run_cli(
        "worldmodel.train", "preset=debug", "data.train_episodes=9", f"run_dir={tmp_path}",
        "progress=false", cache=cache, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "data.train_episodes=9" in proc.stderr and "holds 3 training episodes" in proc.stderr


# ---- the command --------------------------------------------------------------------------------


def test_sweep_runs_end_to_end_and_continues(cache, tmp_path):
    runs_dir, out = tmp_path / "runs", tmp_path / "results" / "scaling.json"
    args = [
        "preset=debug", "progress=false", "--threads", "1", "--runs-dir", str(runs_dir),
        "--out", str(out), "--steps", "4",
    ]  # fmt: skip
    run_cli("benchmarks.scaling", *args, cache=cache)
    payload = json.loads(out.read_text())
    assert payload["world"] == "reacher" and payload["feature"] == "joint_sincos"
    assert payload["grid"]["name"] == "debug" and payload["planning"]["episodes"] == 0
    assert payload["grid"]["steps"] == 4  # --steps replaces the debug grid's 6
    assert "not run" in payload["planning"]["note"]
    assert {"date", "commit", "cores"} <= set(payload["machine"])
    runs = payload["runs"]
    assert len(runs) == 4 and all((runs_dir / r["name"] / "checkpoint.pt").exists() for r in runs)
    for r in runs:
        assert r["frames"] == r["train_episodes"] * 13  # debug episodes: 12 decisions, 13 frames
        assert r["training_flops"] == r["flops_per_step"] * r["steps"]
        assert r["wall_s"] > 0 and r["device"] == "cpu" and r["probe_error"] >= 1e-3
        assert r["rollout_error"] > 0 and r["rollout_horizon"] == 5
        assert r["steps"] == round(4 * r["train_episodes"] / 3)  # --steps on all 3 episodes
    assert sorted({r["train_episodes"] for r in runs}) == [1, 3]
    by_size = {}
    for r in runs:
        by_size.setdefault(r["train_episodes"], {})[r["channels"]] = r
    for pair in by_size.values():  # the bigger model costs more, whatever the data
        assert pair[8]["flops_per_step"] > pair[4]["flops_per_step"]
        assert pair[8]["parameters"] > pair[4]["parameters"]
    assert payload["compute_span"] == pytest.approx(
        max(r["training_flops"] for r in runs) / min(r["training_flops"] for r in runs)
    )
    assert set(payload["fits"]) == {"probe_error", "rollout_error"}
    for by_axis in payload["fits"].values():
        assert set(by_axis) == {"compute", "frames", "parameters"}
        assert by_axis["compute"]["points"] == 4 and len(by_axis["compute"]["alpha_ci95"]) == 2
        assert by_axis["frames"]["points"] == 2 and by_axis["parameters"]["points"] == 2
    assert out.with_suffix(".png").stat().st_size > 0

    # Again, with planning: every run is reused, and each model plays the goal task.
    again = run_cli(
        "benchmarks.scaling", *args, "--plan-episodes", "2", "--planner", "cem_fast", cache=cache
    )
    assert again.stdout.count("complete, reused") == 4 and "worldmodel.train" not in again.stdout
    assert again.stdout.count("planner=cem_fast") == 4
    planned = json.loads(out.read_text())
    assert planned["planning"] == {"task": "reacher-pose", "episodes": 2, "planner": "cem_fast"}
    for r in planned["runs"]:
        assert 0.0 <= r["plan_success"] <= 1.0 and r["plan_failure"] >= 0.25
    assert "plan_failure" in planned["fits"]


def test_bad_input_is_one_line(cache, tmp_path):
    for args, message in (
        (["--world", "moon"], "--world 'moon' is unknown"),
        (["model.channels=4"], "model.channels is set by the sweep"),
        (["preset=debug", "model.chanels=4"], "model.chanels is not a setting"),
        (["preset=debug", "--steps", "0"], "--steps must be at least 1, got 0"),
    ):
        proc = run_cli(
            "benchmarks.scaling", *args, "--runs-dir", str(tmp_path), cache=cache, check=False
        )
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
