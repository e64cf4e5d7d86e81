"""The CUDA path: captured plans match eager ones, batches held in GPU memory match those read
from disk, and train/evaluate run end to end on a GPU.

Skipped where torch sees no GPU (CI); run on a GPU machine with ``python -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.cuda_graph import CapturedCall
from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from tests.conftest import run_cli
from worldmodel.config import ModelConfig
from worldmodel.model import JEPA, WorldModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small_model(device: str = "cuda") -> WorldModel:
    torch.manual_seed(0)
    cfg = ModelConfig()
    jepa = JEPA(cfg, 64, 2)
    for p in jepa.predictor.parameters():  # the last layer starts at zero: make rollouts move
        torch.nn.init.normal_(p, std=0.05)
    return WorldModel(
        jepa.encoder, jepa.predictor, image_size=64, action_dim=2, history=2, embed_dim=64
    ).to(device)


@pytest.mark.parametrize("name", ["cem", "mppi"])
@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_graphed_plans_equal_eager_plans(name, amp):
    model = small_model()
    rng = np.random.default_rng(0)
    goals = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    frames = [rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8) for _ in range(4)]
    actions = {}
    for graph in (False, True):
        planner = make_planner(PlannerConfig(name=name, samples=64, iterations=6), 2, "cuda")
        agent = LatentMPCAgent(model, planner, autocast_dtype=amp, seed=3, cuda_graph=graph)
        agent.reset_batch(goals)
        actions[graph] = np.stack([agent.act_batch(f) for f in frames])  # [steps, E, A]
        assert agent.cuda_graph is graph
        assert agent.last_plan_ms > 0 and agent.last_plan_cost.shape == (3,)
    # Same maths, same random stream: the same plans (bf16 may differ in the last bits).
    np.testing.assert_allclose(actions[True], actions[False], atol=1e-5 if amp is None else 2e-2)
    assert np.abs(actions[True]).max() <= 1.0


def test_captured_call_replays_with_new_inputs_and_rejects_other_shapes():
    def fn(x, y):
        return x * 2 + y

    x, y = torch.ones(4, device="cuda"), torch.zeros(4, device="cuda")
    call = CapturedCall(fn, (x, y))
    out = call(torch.arange(4.0, device="cuda"), torch.full((4,), 1.0, device="cuda"))
    assert out.tolist() == [1.0, 3.0, 5.0, 7.0]
    with pytest.raises(ValueError, match="captured for shape"):
        call(torch.ones(5, device="cuda"), torch.ones(5, device="cuda"))


def test_train_and_evaluate_on_cuda(cache, tmp_path):
    run_dir = tmp_path / "run"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "device=cuda",
        "train.amp=bf16",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    ckpt = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["complete"]
    out_dir = tmp_path / "eval"
    run_cli(
        "agents.evaluate",
        "preset=debug",
        "device=cuda",
        "eval.amp=bf16",
        "eval.videos=0",  # video writing does not depend on the device; tested on CPU
        f"checkpoint={run_dir}",
        f"run_dir={out_dir}",
        "progress=false",
        cache=cache,
    )
    result = json.loads((out_dir / "eval.json").read_text())
    assert result["device"].startswith("cuda") and result["plan_ms_median"] > 0
    assert result["cuda_graph"] is True


def test_compiled_graphed_plans_match_eager_plans():
    model = small_model()
    rng = np.random.default_rng(1)
    goals = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    costs = {}
    for compiled in (False, True):
        planner = make_planner(PlannerConfig(samples=64, iterations=6), 2, "cuda")
        agent = LatentMPCAgent(model, planner, seed=5, cuda_graph=compiled, compile=compiled)
        agent.reset_batch(goals)
        agent.act_batch(frames)
        assert agent.compile is compiled
        costs[compiled] = agent.last_plan_cost
    # Fused kernels round differently, so plans may part ways; their model costs stay close.
    np.testing.assert_allclose(costs[True], costs[False], rtol=0.05)


def test_batches_held_in_gpu_memory_equal_those_read_from_disk(tmp_path):
    """What ``data.on_device`` gives a GPU run by default: the disk path's batches, drawn there."""
    from tests.test_data import write_dataset
    from worldmodel.data import DeviceEpisodes, EpisodeDataset, shift_sequences

    write_dataset(tmp_path)
    ds = EpisodeDataset(tmp_path)
    episodes = np.array([1, 2, 4, 5])
    held = DeviceEpisodes(ds, episodes, torch.device("cuda"))
    disk_rng, held_rng = np.random.default_rng(3), np.random.default_rng(3)
    frames, actions = ds.sample(disk_rng, episodes, batch=32, length=4)
    frames = shift_sequences(frames, 2, disk_rng)
    obs, act = held.sample(held_rng, batch=32, length=4, shift=2)
    assert obs.is_cuda and act.is_cuda
    np.testing.assert_array_equal(obs.cpu().numpy(), frames)
    np.testing.assert_array_equal(act.cpu().numpy(), actions)


def test_training_steps_do_not_wait_for_the_gpu(cache, tmp_path, monkeypatch):
    """Between the steps that log, the loop only queues work: a step that read a value back
    (the loss's finiteness, a metric, an index copied with a wait) would idle the GPU while the
    CPU prepares the next one."""
    from worldmodel import train as train_mod

    original, calls = train_mod.step, {"n": 0}

    def strict(run):
        calls["n"] += 1
        if calls["n"] == 1:  # the first step initialises kernels and the optimiser's state
            return original(run)
        torch.cuda.set_sync_debug_mode("error")
        try:
            return original(run)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(train_mod, "step", strict)
    run_dir = tmp_path / "strict"
    args = ["preset=debug", "device=cuda", "model.sigreg_weight=0.05", "train.shift=2"]
    train_mod.main([*args, "train.log_every=6", f"run_dir={run_dir}", "progress=false"])
    assert calls["n"] == 6 and (run_dir / "checkpoint.pt").exists()
