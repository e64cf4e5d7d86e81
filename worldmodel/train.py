"""``python -m worldmodel.train env=reacher``: train an action-conditioned JEPA world model.

config -> data (collected if missing) -> model -> training loop -> checkpoint + diagnostics.
Under ``torchrun --nproc_per_node=N`` it trains with DistributedDataParallel; rank 0 logs and saves.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from worldmodel import checkpoint as ckpt
from worldmodel.collect import collect, default_data_dir
from worldmodel.config import Config, env_key, env_kwargs
from worldmodel.data import EpisodeDataset
from worldmodel.diagnostics import diagnose, headline
from worldmodel.model import JEPA, WorldModel
from worldmodel.objectives import ema_update
from worldmodel.runtime import distributed as dist
from worldmodel.runtime.device import autocast, autocast_dtype, resolve_device
from worldmodel.runtime.progress import progress
from worldmodel.runtime.runlog import RunLogger
from worldmodel.runtime.seeding import seed_everything

USAGE = """usage: python -m worldmodel.train [key=value ...]
Train a JEPA world model (collecting its data set first if needed), e.g.
  python -m worldmodel.train env=reacher
  python -m worldmodel.train env=wall preset=gpu device=cuda
  python -m worldmodel.train preset=debug run_dir=/tmp/run
  torchrun --nproc_per_node=2 -m worldmodel.train env=reacher"""

# Settings that may differ between a run and its resumption without changing the model.
RUNTIME_FIELDS = (
    "resume",
    "progress",
    "logger",
    "wandb_mode",
    "wandb_project",
    "device",
    "run_dir",
    "checkpoint",
)
RUNTIME_SUBFIELDS = {
    "data.workers",
    "data.verify",
    "train.threads",
    "train.log_every",
    "train.eval_every",
    "train.ckpt_every",
    "train.compile",
    "train.probe_episodes",
    "train.amp",
}


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a mismatched run folder)."""


def default_run_dir(cfg: Config) -> Path:
    suffix = f"-seed{cfg.seed}" if cfg.seed else ""
    return Path("runs") / f"{env_key(cfg.env)}-{cfg.preset}{suffix}"


def train(cfg: Config) -> Path:
    """Train the model ``cfg`` describes; returns the path of the final checkpoint."""
    device = resolve_device(cfg.device)
    if dist.init_from_env(device.type) and device.type == "cuda":
        device = torch.device("cuda", dist.rank() % torch.cuda.device_count())
    is_main = dist.rank() == 0
    seed_everything(cfg.seed, dist.rank())
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    path = run_dir / "checkpoint.pt"
    existing = _check_run_dir(cfg, path)
    if existing is not None and existing.get("complete") and not cfg.resume:
        if is_main:
            print(
                f"{path} already holds this model, trained for {existing['step']} steps: reusing it"
            )
        return path

    # Data: rank 0 collects (or reuses) it; the others wait and open the same folder.
    if is_main:
        data_dir = collect(cfg)
    dist.barrier()
    data_dir = Path(cfg.data.dir) if cfg.data.dir else default_data_dir(cfg.env, cfg.data, cfg.seed)
    dataset = EpisodeDataset(
        data_dir,
        verify=cfg.data.verify and is_main,
        expect={"image_size": cfg.env.image_size, "action_repeat": cfg.env.action_repeat},
    )
    train_eps, val_eps = dataset.split(cfg.data.val_fraction)
    action_dim, size = int(dataset.manifest["action_dim"]), cfg.env.image_size
    env_meta = {
        "name": cfg.env.name,
        "key": env_key(cfg.env),
        "image_size": size,
        "action_dim": action_dim,
        "action_repeat": cfg.env.action_repeat,
        "kwargs": env_kwargs(cfg.env),
    }
    data_meta = {
        "dir": str(data_dir),
        "frames": dataset.manifest["frames"],
        "episodes": dataset.num_episodes,
    }

    # Model, optimiser, and the state of an interrupted run.
    model = JEPA(cfg.model, size, action_dim).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    step = 0
    if cfg.resume and existing is not None:
        model.load_state_dict(existing["model"])
        opt.load_state_dict(existing["optimizer"])
        step = int(existing["step"])
        if is_main:
            print(f"resuming {path} from step {step}")
    net = DistributedDataParallel(model) if dist.is_distributed() else model
    if cfg.train.compile:
        net = torch.compile(net)
    amp = autocast_dtype(cfg.train.amp, device)
    rng = np.random.default_rng([cfg.seed, dist.rank(), step])
    proj_gen = torch.Generator().manual_seed(
        cfg.seed * 7919 + step
    )  # same directions on every rank
    length = cfg.model.history + cfg.train.rollout_steps
    env_for_probe = _state_features(cfg)

    log = RunLogger(
        run_dir,
        asdict(cfg),
        cfg.logger,
        enabled=is_main,
        wandb_mode=cfg.wandb_mode,
        project=cfg.wandb_project,
        name=run_dir.name,
    )
    if is_main:
        (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")

    def save(complete: bool, diagnostics: dict | None = None) -> None:
        if is_main:
            ckpt.save(
                path,
                {
                    "step": step,
                    "config": asdict(cfg),
                    "env": env_meta,
                    "data": data_meta,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "complete": complete,
                    "diagnostics": diagnostics or {},
                },
            )

    def evaluate() -> dict:
        wm = world_model(model, cfg, size, action_dim)
        stats = diagnose(
            wm,
            dataset,
            train_eps,
            val_eps,
            env_for_probe,
            cfg.train.rollout_steps + 2,
            cfg.train.probe_episodes,
        )
        model.train()
        return stats

    bar = progress(
        total=cfg.train.steps,
        initial=step,
        desc="train",
        unit="step",
        enabled=is_main and cfg.progress,
    )
    t0, frames = time.perf_counter(), 0
    model.train()
    while step < cfg.train.steps:
        obs, act = dataset.sample(rng, train_eps, cfg.train.batch_size, length)
        obs = torch.from_numpy(obs).to(device, non_blocking=True)  # uint8 [B, L, H, W, 3]
        act = torch.from_numpy(act).to(device, non_blocking=True)  # [B, L-1, A]
        lr = _lr(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        with autocast(device, amp):
            loss, parts = net(obs, act, proj_gen)
        if not torch.isfinite(loss):
            log.close()
            raise TrainingError(
                f"loss became {loss.item()} at step {step}; training stopped. The last good checkpoint "
                f"is kept at {path if path.exists() else '(none yet)'}. Lower train.lr or raise the regularizer weight"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
        opt.step()
        if model.target_encoder is not None:
            ema_update(model.target_encoder, model.encoder, cfg.model.ema_decay)
        step += 1
        frames += obs.shape[0] * obs.shape[1] * dist.world_size()
        bar.update(1)
        if step % cfg.train.log_every == 0 or step == cfg.train.steps:
            metrics = {k: float(v.detach()) for k, v in parts.items()}
            metrics.update(lr=lr, frames_per_s=frames / (time.perf_counter() - t0))
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", fps=f"{metrics['frames_per_s']:.0f}")
            log.log(step, metrics)
        if is_main and step % cfg.train.eval_every == 0 and step < cfg.train.steps:
            stats = evaluate()
            log.log(step, {f"diag/{k}": v for k, v in stats.items() if not isinstance(v, list)})
            bar.write(f"step {step}: {headline(stats)}")
        if step % cfg.train.ckpt_every == 0 and step < cfg.train.steps:
            save(complete=False)
    bar.close()
    stats = evaluate() if is_main else {}
    save(complete=True, diagnostics=stats)
    if is_main:
        (run_dir / "probe.json").write_text(json.dumps(stats, indent=2) + "\n")
        log.log(step, {f"diag/{k}": v for k, v in stats.items() if not isinstance(v, list)})
        log.close()
        fps = frames / max(time.perf_counter() - t0, 1e-9)
        print(
            f"checkpoint: {path}\nmetrics:    {run_dir / 'metrics.jsonl'}\ndiagnostics: {run_dir / 'probe.json'}"
        )
        print(f"trained {step} steps at {fps:.0f} frames/s; {headline(stats)}")
    dist.barrier()
    return path


def world_model(model: JEPA, cfg: Config, size: int, action_dim: int) -> WorldModel:
    """The planning-time view of a JEPA being trained (shares its modules)."""
    enc = model.target_encoder if model.target_encoder is not None else model.encoder
    return WorldModel(
        enc,
        model.predictor,
        image_size=size,
        action_dim=action_dim,
        history=cfg.model.history,
        embed_dim=cfg.model.embed_dim,
    )


def _lr(cfg: Config, step: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    t = cfg.train
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    progress = (step - t.warmup) / max(1, t.steps - t.warmup)
    return t.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _state_features(cfg: Config):
    """The env's privileged-feature function for probes (None if the env cannot be built)."""
    from envs import make

    env = make(cfg.env.name, **env_kwargs(cfg.env))
    fn = env.unwrapped.state_features
    env.close()
    return fn


def _check_run_dir(cfg: Config, path: Path) -> dict | None:
    """The checkpoint already in the run folder, after checking it belongs to these settings."""
    if not path.exists():
        if cfg.resume:
            raise TrainingError(
                f"resume=true but {path} does not exist; drop resume or fix run_dir"
            )
        return None
    payload = ckpt.read(path)
    old, new = payload["config"], asdict(cfg)
    ignore = RUNTIME_SUBFIELDS | ({"train.steps"} if cfg.resume else set())
    diffs = [
        f"{sec}.{k}: {old.get(sec, {}).get(k)!r} -> {v!r}"
        for sec in ("env", "data", "model", "train")
        for k, v in new[sec].items()
        if old.get(sec, {}).get(k) != v and f"{sec}.{k}" not in ignore
    ]
    diffs += [
        f"{k}: {old.get(k)!r} -> {v!r}"
        for k, v in new.items()
        if not isinstance(v, dict) and k not in RUNTIME_FIELDS and old.get(k) != v
    ]
    if diffs:
        raise TrainingError(
            f"{path} was trained with other settings ({'; '.join(diffs[:4])}); choose another run_dir= "
            f"or delete {path.parent}"
        )
    if not payload.get("complete") and not cfg.resume:
        raise TrainingError(
            f"{path} holds an interrupted run (step {payload['step']}); pass resume=true to continue it, "
            f"or choose another run_dir="
        )
    return payload


def main(argv: list[str] | None = None) -> Path:
    from worldmodel.runtime.cli import run_command

    return run_command(train, argv, usage=USAGE, errors=(ValueError, TypeError, TrainingError))


if __name__ == "__main__":
    main(sys.argv[1:])
