"""The pixel-reconstruction objective (model.objective=reconstruction) and the benchmark that
sets it against the JEPA at matched training compute."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

import worldmodel
from benchmarks.jepa_vs_reconstruction import compute_to_reach, ratios
from tests.conftest import run_cli
from worldmodel import checkpoint as ckpt
from worldmodel.config import Config, EnvConfig, ModelConfig
from worldmodel.decoder import CNNDecoder, to_frames
from worldmodel.flops import training_step_flops
from worldmodel.model import JEPA
from worldmodel.runtime.errors import ConfigError, InputError

SMALL = dict(channels=8, embed_dim=16, hidden=32, depth=2, sigreg_projections=16, history=2)
RECON = ["model.objective=reconstruction"]


def test_decoder_mirrors_the_encoder_shapes():
    dec = CNNDecoder(image_size=32, channels=8, embed_dim=16)
    x = dec(torch.randn(5, 16))
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
    frames = to_frames(x)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == torch.uint8
    pixels = torch.tensor([0, 128, 255], dtype=torch.uint8)
    assert torch.equal(to_frames((pixels.float() / 255 - 0.5).view(1, 3, 1, 1)).flatten(), pixels)
    with pytest.raises(InputError, match="multiple of 16"):
        CNNDecoder(image_size=40, channels=8, embed_dim=16)


def test_reconstruction_loss_is_pixels_only_and_decreases():
    torch.manual_seed(0)
    cfg = ModelConfig(objective="reconstruction", **SMALL)
    model = JEPA(cfg, image_size=16, action_dim=2)
    assert model.decoder is not None and model.target_encoder is None
    obs = torch.randint(0, 256, (4, cfg.history + 2, 16, 16, 3), dtype=torch.uint8)
    act = torch.rand(4, cfg.history + 1, 2) * 2 - 1
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, parts = model(obs, act)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert set(parts) == {"recon", "pred_tf", "pred_rollout", "idm", "loss"}  # no regularizer
    for module in (model.encoder, model.predictor, model.decoder):
        assert all(p.grad is not None for p in module.parameters())
    assert losses[-1] < 0.5 * losses[0]


def test_reconstruction_step_counts_the_decoder():
    kwargs = dict(batch_size=2, length=4, image_size=32, action_dim=2)
    jepa = training_step_flops(JEPA(ModelConfig(**SMALL), 32, 2), **kwargs)
    recon = ModelConfig(objective="reconstruction", **SMALL)
    assert training_step_flops(JEPA(recon, 32, 2), **kwargs) > 2 * jepa


@pytest.mark.parametrize(
    "settings, fields",
    [
        (dict(regularizer="ema"), "model.regularizer=ema"),
        (dict(encoder="keypoints"), "model.encoder=keypoints"),
        (dict(encoder="vit"), "model.encoder=vit"),
        (dict(temporal_weight=0.1), "model.temporal_weight=0.1"),
        (dict(contrast_weight=1.0), "model.contrast_weight=1.0"),
    ],
)
def test_combinations_without_sense_are_refused(settings, fields):
    with pytest.raises(ConfigError, match="model.objective=reconstruction") as e:
        ModelConfig(objective="reconstruction", **settings)
    assert fields in str(e.value)
    ModelConfig(objective="jepa", **settings)  # each is fine for the JEPA
    with pytest.raises(ConfigError, match="env.image_size"):
        Config(env=EnvConfig(image_size=40), model=ModelConfig(objective="reconstruction"))


def test_train_refuses_a_bad_combination_in_one_line(cache, tmp_path):
    bad = run_cli(
        "worldmodel.train", "preset=debug", *RECON, "model.regularizer=ema",
        f"run_dir={tmp_path / 'run'}", cache=cache, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "model.objective=reconstruction" in bad.stderr and "model.regularizer=ema" in bad.stderr


def test_a_reconstruction_run_trains_resumes_loads_and_plans(cache, tmp_path):
    run_dir = tmp_path / "run"
    args = ("preset=debug", *RECON, f"run_dir={run_dir}", "progress=false")
    run_cli("worldmodel.train", *args, "train.steps=3", cache=cache)
    path = run_dir / "checkpoint.pt"
    payload = ckpt.read(path)
    assert payload["config"]["model"]["objective"] == "reconstruction"
    assert any(k.startswith("decoder.") for k in payload["model"])  # saved, so it resumes
    stats = json.loads((run_dir / "probe.json").read_text())
    assert "joint_sincos" in stats["probe_r2"] and len(stats["copy_over_rollout"]) == 5
    assert "recon" in json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])

    out = run_cli("worldmodel.train", *args, "train.steps=5", "resume=true", cache=cache)
    assert "from step 3" in out.stdout and ckpt.read(path)["step"] == 5

    model = worldmodel.load(str(run_dir), device="cpu")  # weights_only: checkpoint.read
    assert {name for name, _ in model.named_children()} == {"encoder", "predictor"}
    z = model.encode(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))
    assert model.rollout(z[:, None].repeat(1, 2, 1), torch.zeros(1, 3, 2)).shape == (1, 3, 16)

    run_cli(
        "agents.evaluate", "task=reacher-pose", f"checkpoint={path}", "preset=debug",
        "eval.episodes=1", "eval.videos=0", "eval.baselines=[]",
        f"run_dir={tmp_path / 'eval'}", "device=cpu", "progress=false", cache=cache,
    )  # fmt: skip
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert result["episodes"] == 1 and 0.0 <= result["success_rate"] <= 1.0


def test_a_checkpoint_from_before_the_objective_is_still_reused(tiny_run, cache, tmp_path):
    run_dir = tmp_path / "old"
    shutil.copytree(tiny_run, run_dir)
    path = run_dir / "checkpoint.pt"
    payload = ckpt.read(path)
    payload["config"]["model"].pop("objective")
    ckpt.save(
        path, {k: v for k, v in payload.items() if k not in ("format", "format_version", "path")}
    )
    out = run_cli(
        "worldmodel.train", "preset=debug", f"run_dir={run_dir}", "progress=false", cache=cache
    )
    assert "reusing" in out.stdout
    assert worldmodel.load(str(run_dir), device="cpu").info["step"] == 6


# ---- the compute ratio ------------------------------------------------------------------------


def test_compute_to_reach_interpolates_in_log_compute():
    points = [(1.0, 0.2), (10.0, 0.4), (100.0, 0.8)]
    assert compute_to_reach(points, 0.4) == pytest.approx(10.0)
    assert compute_to_reach(points, 0.3) == pytest.approx(math.sqrt(10.0))  # halfway in log
    assert compute_to_reach(points, 0.6) == pytest.approx(math.sqrt(1000.0))
    assert compute_to_reach(points, 0.9) is None  # above the range
    assert compute_to_reach(points, 0.2) is None  # reached at the smallest budget or below
    assert compute_to_reach(list(reversed(points)), 0.3) == pytest.approx(math.sqrt(10.0))
    assert compute_to_reach([(1.0, 0.5), (10.0, 0.1), (100.0, 0.9)], 0.3) is None  # from the start


def test_ratios_in_both_directions_with_bounds_out_of_range():
    def row(objective, tflops, q):
        return {"world": "w", "objective": objective, "train_tflops": tflops, "probe_r2": q,
                "copy_over_rollout_5": None, "success_rate": None}  # fmt: skip

    rows = [row("jepa", 1.0, 0.5), row("jepa", 10.0, 0.9)]
    rows += [row("reconstruction", 1.0, 0.1), row("reconstruction", 10.0, 0.3),
             row("reconstruction", 100.0, 0.7)]  # fmt: skip
    out = {(e["reference"], e["reference_tflops"]): e for e in ratios(rows)}
    assert len(out) == 5
    # JEPA's 0.5 at 1 TFLOP: reconstruction gets there halfway (in log) from 10 to 100 TFLOPs
    assert out["jepa", 1.0]["ratio"] == pytest.approx(math.sqrt(1000.0))
    assert out["jepa", 10.0]["ratio"] is None and out["jepa", 10.0]["at_least"] == 10.0
    assert out["reconstruction", 1.0]["ratio"] is None
    assert out["reconstruction", 1.0]["at_most"] == 1.0
    assert out["reconstruction", 100.0]["ratio"] == pytest.approx(10 ** (0.5) / 100)


# ---- the benchmark ----------------------------------------------------------------------------


@pytest.mark.slow
def test_benchmark_runs_end_to_end_and_resumes(cache, tmp_path):
    out = tmp_path / "result.json"
    args = [
        "--preset", "debug", "--worlds", "reacher", "--budgets", "0.0004", "0.0012",
        "--episodes", "1", "--runs", str(tmp_path / "runs"), "--out", str(out),
        "--device", "cpu", "--threads", "1",
    ]  # fmt: skip
    run_cli("benchmarks.jepa_vs_reconstruction", *args, cache=cache, timeout=600)
    payload = json.loads(out.read_text())
    assert payload["smoke"] is True and payload["settings"]["preset"] == "debug"
    assert {"date", "commit", "cores"} <= set(payload["machine"])
    rows = payload["results"]
    assert [(r["objective"], r["budget_tflops"]) for r in rows] == [
        ("jepa", 0.0004), ("jepa", 0.0012), ("reconstruction", 0.0004), ("reconstruction", 0.0012)
    ]  # fmt: skip
    for r in rows:
        assert r["task"] == "reacher-pose" and r["episodes"] == 1
        assert r["probe_r2"] is not None and r["copy_over_rollout_5"] > 0
        assert 0.0 <= r["success_rate"] <= 1.0
        assert r["train_tflops"] == pytest.approx(r["steps"] * r["step_gflops"] / 1000)
    jepa, recon = rows[0], rows[2]
    assert recon["step_gflops"] > jepa["step_gflops"] and recon["steps"] < jepa["steps"]
    assert {e["quality"] for e in payload["ratios"]} == {
        "probe_r2", "copy_over_rollout_5", "success_rate"
    }  # fmt: skip
    assert out.with_suffix(".png").stat().st_size > 0

    again = run_cli("benchmarks.jepa_vs_reconstruction", *args, cache=cache)
    assert again.stdout.count("reusing it") == 4 and again.stdout.count("reused") == 4
    table = run_cli("benchmarks.jepa_vs_reconstruction", *args, "--table-only", cache=cache)
    assert "worldmodel.train" not in table.stdout and json.loads(out.read_text())["results"] == rows
