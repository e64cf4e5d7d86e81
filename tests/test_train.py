"""The train and probe commands end to end: outputs, resume, checkpoints, bad input, DDP."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import sys

import numpy as np
import pytest
import torch

import worldmodel
from tests.conftest import interrupt_cli, run_cli
from worldmodel import checkpoint as ckpt
from worldmodel.runtime.errors import InputError


def test_train_writes_checkpoint_metrics_and_diagnostics(tiny_run):
    assert (tiny_run / "checkpoint.pt").exists()
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses and all(np.isfinite(losses))
    probe = json.loads((tiny_run / "probe.json").read_text())
    for key in (
        "embed_std_per_dim",
        "effective_rank",
        "rollout_mse",
        "copy_last_mse",
        "probe_r2",
        "collapse_warning",
    ):
        assert key in probe
    assert len(probe["rollout_mse"]) == len(probe["copy_last_mse"]) >= 3
    assert "joint_sincos" in probe["probe_r2"]
    diag = [r for r in rows if "diag/rollout_mse" in r]  # rollout error over steps, for the plot
    assert diag and diag[-1]["diag/copy_last_mse"] == probe["copy_last_mse"]
    if importlib.util.find_spec("matplotlib"):
        assert (tiny_run / "training.png").read_bytes().startswith(b"\x89PNG")


def test_load_gives_a_planning_ready_model(tiny_run):
    model = worldmodel.load(str(tiny_run / "checkpoint.pt"), device="cpu")
    assert not model.training
    frames = np.zeros((2, model.image_size, model.image_size, 3), np.uint8)
    z = model.encode(frames)
    assert z.shape == (2, model.embed_dim)
    # reacher's recipe reads the action between its 2 frames, so the rollout asks for it
    assert (model.history, model.action_history) == (2, True)
    history = z[:, None].repeat(1, model.history, 1)  # [2, T, D]
    past = torch.zeros(2, model.history - 1, model.action_dim)  # [2, T-1, A]
    out = model.rollout(history, torch.zeros(2, 5, model.action_dim), past)
    assert out.shape == (2, 5, model.embed_dim)
    with pytest.raises(InputError, match="past_actions"):
        model.rollout(history, torch.zeros(2, 5, model.action_dim))


def test_load_rejects_env_of_other_size(tiny_run):
    import envs

    env = envs.make("reacher", image_size=48)
    with pytest.raises(ckpt.CheckpointError, match="48"):
        worldmodel.load(str(tiny_run), device="cpu", env=env)
    env = envs.make("dmc", domain="cartpole", task="swingup", image_size=32)
    with pytest.raises(ckpt.CheckpointError, match="actions"):
        worldmodel.load(str(tiny_run), device="cpu", env=env)


def test_checkpoint_round_trip_and_corrupt_file(tiny_run, tmp_path):
    payload = ckpt.read(tiny_run / "checkpoint.pt")
    assert payload["complete"] and payload["step"] == 6
    ckpt.save(
        tmp_path / "copy.pt",
        {k: v for k, v in payload.items() if k not in ("format", "format_version", "path")},
    )
    again = ckpt.read(tmp_path / "copy.pt")
    for k, v in payload["model"].items():
        assert torch.equal(v, again["model"][k])
    bad = tmp_path / "bad.pt"
    bad.write_bytes((tiny_run / "checkpoint.pt").read_bytes()[:5000])
    with pytest.raises(ckpt.CheckpointError, match="bad.pt: cannot be read"):
        ckpt.read(bad)
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        ckpt.read(tmp_path / "missing.pt")


def test_rerun_reuses_finished_model_and_rejects_changed_settings(tiny_run, cache):
    out = run_cli(
        "worldmodel.train", "preset=debug", f"run_dir={tiny_run}", "progress=false", cache=cache
    )
    assert "reusing" in out.stdout
    bad = run_cli(
        "worldmodel.train",
        "preset=debug",
        f"run_dir={tiny_run}",
        "model.embed_dim=8",
        cache=cache,
        check=False,
    )
    assert bad.returncode == 2 and "model.embed_dim" in bad.stderr and "Traceback" not in bad.stderr


def test_other_training_seed_shares_the_data_of_seed_0(tiny_run, cache, tmp_path):
    """seed=1 data.seed=0 trains a second seed on the data set tiny_run collected (seed 0), and
    its model starts elsewhere; without data.seed, seed=1 would collect new episodes."""
    run_dir = tmp_path / "seed1"
    out = run_cli(
        "worldmodel.train",
        "preset=debug",
        "seed=1",
        "data.seed=0",
        "train.steps=1",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    first, second = ckpt.read(tiny_run / "checkpoint.pt"), ckpt.read(run_dir / "checkpoint.pt")
    assert "data set ready (reused)" in out.stdout
    assert second["data"]["dir"] == first["data"]["dir"] and "seed0" in first["data"]["dir"]
    assert (second["config"]["seed"], second["config"]["data"]["seed"]) == (1, 0)
    a = worldmodel.load(str(tiny_run), device="cpu").state_dict()
    b = worldmodel.load(str(run_dir), device="cpu").state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_an_interrupted_run(tmp_path, cache):
    run_dir = tmp_path / "run"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "train.steps=3",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    path = run_dir / "checkpoint.pt"
    payload = ckpt.read(path)
    payload["complete"] = False  # what an interruption after the step-3 checkpoint leaves
    ckpt.save(
        path, {k: v for k, v in payload.items() if k not in ("format", "format_version", "path")}
    )
    refused = run_cli(
        "worldmodel.train",
        "preset=debug",
        "train.steps=3",
        f"run_dir={run_dir}",
        cache=cache,
        check=False,
    )
    assert refused.returncode == 2 and "resume=true" in refused.stderr
    out = run_cli(
        "worldmodel.train",
        "preset=debug",
        "train.steps=6",
        "resume=true",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    assert "resuming" in out.stdout and "from step 3" in out.stdout
    after = ckpt.read(path)
    assert after["step"] == 6 and after["complete"]
    steps = [
        json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert max(steps) == 6


def test_resumed_run_ends_with_the_weights_of_the_uninterrupted_one(tmp_path, cache, monkeypatch):
    """Ctrl-C before step 5, then resume=true: the same batches and SIGReg projections follow, so
    the weights match a run that was never interrupted (before, both streams restarted)."""
    from worldmodel import train as train_mod

    args = ["preset=debug", "train.steps=6", "progress=false"]
    train_mod.main([*args, f"run_dir={tmp_path / 'whole'}"])
    original = train_mod.step

    def interrupted(run):
        if run.step == 4:
            raise KeyboardInterrupt
        return original(run)

    monkeypatch.setattr(train_mod, "step", interrupted)
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        train_mod.main([*args, f"run_dir={tmp_path / 'part'}"])
    assert ckpt.read(tmp_path / "part" / "checkpoint.pt")["step"] == 4
    monkeypatch.setattr(train_mod, "step", original)
    train_mod.main([*args, "resume=true", f"run_dir={tmp_path / 'part'}"])
    whole, part = (ckpt.read(tmp_path / d / "checkpoint.pt")["model"] for d in ("whole", "part"))
    assert all(torch.equal(whole[k], part[k]) for k in whole)


class _InfiniteGradient(torch.autograd.Function):
    """The identity forward; an infinite gradient backward (a finite loss, spoilt weights)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")  # (infinities meet zeros on the way: NaN)


@pytest.mark.parametrize(
    "first_bad, spoil, overrides, kept, message",
    [
        # noticed when the next step logs; the checkpoint of step 3 stays
        (5, "loss", [], 3, "loss became nan at step 4"),
        # noticed by the save at step 3, which writes nothing
        (3, "loss", ["train.log_every=6", "train.eval_every=6"], None, "loss became nan at step 2"),
        (5, "gradient", [], 3, "gradient norm became nan (loss "),
    ],
)
def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    first_bad, spoil, overrides, kept, message, tmp_path, cache, monkeypatch, capsys
):
    from worldmodel import train as train_mod
    from worldmodel.model import JEPA

    original = JEPA.forward
    calls = {"n": 0}

    def flaky(self, *a, **kw):
        loss, parts = original(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] < first_bad:
            return loss, parts
        return (loss * float("nan") if spoil == "loss" else _InfiniteGradient.apply(loss)), parts

    monkeypatch.setattr(JEPA, "forward", flaky)
    run_dir = tmp_path / "nan"
    with pytest.raises(SystemExit) as exc:
        train_mod.main(["preset=debug", *overrides, f"run_dir={run_dir}", "progress=false"])
    assert exc.value.code == 2
    # names the step that first went bad (counted from 0), whenever the loop noticed it
    err = capsys.readouterr().err
    assert message in err and "training stopped" in err
    if kept is None:  # the spoilt weights were never written
        assert not (run_dir / "checkpoint.pt").exists()
    else:
        good = ckpt.read(run_dir / "checkpoint.pt")
        assert good["step"] == kept and not good["complete"]  # the checkpoint before the NaN


@pytest.mark.parametrize(
    "args, expected",
    [
        (["env=nope"], "env='nope' is unknown; choose one of dmc, point_mass, reacher, wall"),
        (["preset=huge"], "preset='huge' is unknown; choose one of cpu, debug, gpu"),
        (
            ["train.stpes=3"],
            "train.stpes is not a setting of worldmodel.train; did you mean train.steps?",
        ),
        (["train.steps=many"], "train.steps: Value 'many' of type 'str' could not be converted"),
        (["train.steps=-3"], "train.steps must be >= 1, got -3"),
        (["train.batch_size=0"], "train.batch_size must be >= 1, got 0"),
        (["seed=-1"], "seed must be >= 0, got -1"),  # NumPy's seeding would fail deep inside
        (["data.seed=-2"], "data.seed must be >= 0, got -2"),
        (["train.amp=fp16"], "train.amp='fp16' is unknown; choose one of auto, bf16, none"),
        (["model.encoder=resnet"], "model.encoder='resnet' is unknown; choose one of cnn, vit"),
        (["model.predictor=rnn"], "model.predictor='rnn'"),
        (["model.encoder=vit", "model.patch_size=5"], "not a multiple of model.patch_size=5"),
        (["logger=tensorboard"], "logger='tensorboard' is unknown; choose one of none, wandb"),
        (["data.val_fraction=0"], "data.val_fraction must be > 0"),
        (["task=reacher-pose"], "task is not a setting of worldmodel.train"),
        (["-m", "seed=1,2"], "for s in 0 1 2; do python -m worldmodel.train seed=$s"),
        (["seed=1,2"], "sweeps"),
        (["model.regularizer=magic"], "model.regularizer"),
        (["device=tpu"], "device='tpu'"),
        (["env=dmc", "env.domain=foo"], "unknown dm_control domain 'foo'; choose one of"),
        (["env=dmc", "env.task=nope"], "unknown task 'nope' for dm_control domain 'cartpole'"),
    ],
)
def test_bad_overrides_are_named(args, expected, cache, tmp_path):
    out = run_cli(
        "worldmodel.train",
        "preset=debug",
        f"run_dir={tmp_path / 'r'}",
        *args,
        cache=cache,
        check=False,
    )
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_probe_command_writes_probe_json(tiny_run, cache, tmp_path):
    run_cli(
        "worldmodel.probe",
        f"checkpoint={tiny_run / 'checkpoint.pt'}",
        f"run_dir={tmp_path}",
        cache=cache,
    )
    stats = json.loads((tmp_path / "probe.json").read_text())
    assert stats["checkpoint"].endswith("checkpoint.pt")
    assert len(stats["embed_std_per_dim"]) == 16


def test_regularizer_variants_train(tmp_path, cache):
    for reg in ("vicreg", "ema"):
        run_dir = tmp_path / reg
        run_cli(
            "worldmodel.train",
            "preset=debug",
            f"model.regularizer={reg}",
            "train.steps=2",
            f"run_dir={run_dir}",
            "progress=false",
            cache=cache,
        )
        assert worldmodel.load(str(run_dir), device="cpu").embed_dim == 16


def _free_port() -> int:
    """A TCP port free now, for torchrun's rendezvous: a fixed one is shared by every pytest
    session on the machine, and a second session's ranks then join the first one's store."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_share_one_run_dir(tmp_path, cache):
    run_dir = tmp_path / "ddp"
    out = run_cli(
        "worldmodel.train",
        "preset=debug",
        f"run_dir={run_dir}",
        "progress=false",
        "device=cpu",
        cache=cache,
        launcher=[
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            "-m",
        ],
        timeout=600,
    )
    assert out.stdout.count("checkpoint:") == 1  # only rank 0 reports and saves
    pictures = ["training.png"] if importlib.util.find_spec("matplotlib") else []
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        ["checkpoint.pt", "config.json", "metrics.jsonl", "probe.json", *pictures]
    )
    model = worldmodel.load(str(run_dir), device="cpu")
    assert model.info["step"] == 6


def test_wandb_logger_runs_offline(tmp_path, cache, monkeypatch):
    pytest.importorskip("wandb")  # the [wandb] extra
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run_dir = tmp_path / "wb"
    run_cli(
        "worldmodel.train",
        "preset=debug",
        "train.steps=2",
        "logger=wandb",
        f"run_dir={run_dir}",
        "progress=false",
        cache=cache,
    )
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert offline, "wandb should write an offline run into the run folder"
    assert (run_dir / "metrics.jsonl").exists()  # always written, whatever the logger


def _steps(run_dir):
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_saves_a_checkpoint_and_prints_the_resume_command(tmp_path, cache, signum, status):
    """Ctrl-C, and SIGTERM (``kill``, a scheduler's preemption) the same way."""
    run_dir = tmp_path / "run"
    args = ["preset=debug", "train.steps=100000", "train.eval_every=100000"]
    args += [f"run_dir={run_dir}", "progress=false"]
    out = interrupt_cli(
        "worldmodel.train",
        *args,
        cache=cache,
        ready=lambda: len(_steps(run_dir)) >= 3,
        signum=signum,
    )
    assert out.returncode == status and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert out.stderr.count("interrupted:") == 1 and line.startswith("interrupted:")  # one line
    payload = ckpt.read(run_dir / "checkpoint.pt")
    assert payload["step"] > 0 and not payload["complete"]
    assert f"checkpoint saved at step {payload['step']}" in line
    assert line.endswith(
        f"continue with: python -m worldmodel.train {' '.join(args)} resume=true"
    ), repr(line)
    resumed = run_cli(
        "worldmodel.train",
        *args[:-2],
        f"train.steps={payload['step'] + 2}",
        f"run_dir={run_dir}",
        "resume=true",
        cache=cache,
    )
    assert f"from step {payload['step']}" in resumed.stdout


def test_resume_drops_the_metrics_logged_after_the_checkpoint(tmp_path, cache):
    """A run killed after its last checkpoint logged steps that the resumed run repeats."""
    run_dir = tmp_path / "run"
    common = ["preset=debug", f"run_dir={run_dir}", "progress=false"]
    run_cli("worldmodel.train", *common, "train.steps=3", cache=cache)
    path = run_dir / "checkpoint.pt"
    payload = ckpt.read(path)
    payload["complete"] = False
    ckpt.save(
        path, {k: v for k, v in payload.items() if k not in ("format", "format_version", "path")}
    )
    with open(run_dir / "metrics.jsonl", "a") as f:  # steps 4 and 5 were logged, then the crash
        f.write(json.dumps({"step": 4, "loss": 1.0}) + "\n" + json.dumps({"step": 5}) + "\n")
    run_cli("worldmodel.train", *common, "train.steps=6", "resume=true", cache=cache)
    steps = _steps(run_dir)
    assert steps == sorted(steps) and steps.count(4) == 1 and max(steps) == 6


def test_torchrun_refusal_on_rank_0_stops_every_rank_in_one_line(tmp_path, cache):
    """rank 0 refuses a data set of other settings; rank 1 must not crash at a barrier."""
    data = tmp_path / "data"
    run_cli("worldmodel.collect", "preset=debug", f"data.dir={data}", "progress=false", cache=cache)
    out = run_cli(
        "worldmodel.train",
        "preset=debug",
        "seed=5",
        f"data.dir={data}",
        f"run_dir={tmp_path / 'ddp'}",
        "progress=false",
        "device=cpu",
        cache=cache,
        check=False,
        launcher=[
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={_free_port()}",
            "-m",
        ],
        timeout=600,
    )
    assert out.returncode != 0
    assert out.stderr.count("error: ") == 1 and "collected with seed=0" in out.stderr
    assert "barrier" not in out.stderr and "DistBackendError" not in out.stderr


def test_probe_refuses_data_of_another_world(tiny_run, cache, tmp_path):
    wall_data = tmp_path / "wall-data"
    run_cli("worldmodel.collect", "env=wall", "preset=debug", f"data.dir={wall_data}", cache=cache)
    out = run_cli(
        "worldmodel.probe",
        f"checkpoint={tiny_run / 'checkpoint.pt'}",
        f"data.dir={wall_data}",
        f"run_dir={tmp_path / 'probe'}",
        cache=cache,
        check=False,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "wall episodes" in out.stderr and "reacher model" in out.stderr
    assert not (tmp_path / "probe" / "probe.json").exists()


def test_training_on_episodes_held_in_memory_matches_reading_them_from_disk(
    tmp_path, cache, monkeypatch
):
    """data.on_device=true (what a GPU gets by default) trains on the same batches as batches read
    from the memory map: after a few steps both runs hold the same weights."""
    from worldmodel import train as train_mod
    from worldmodel.data import DeviceEpisodes

    held_batches = []
    original = DeviceEpisodes.sample

    def counted(self, *args, **kwargs):
        held_batches.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeviceEpisodes, "sample", counted)
    args = ["preset=debug", "train.steps=4", "train.threads=1", "progress=false"]
    for where in ("true", "false"):
        train_mod.main([*args, f"data.on_device={where}", f"run_dir={tmp_path / where}"])
        assert len(held_batches) == 4  # the memory-held run drew every batch there; the other none
    held, disk = (ckpt.read(tmp_path / d / "checkpoint.pt")["model"] for d in ("true", "false"))
    assert all(torch.equal(held[k], disk[k]) for k in held)
