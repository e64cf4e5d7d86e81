"""``python -m worldmodel.train env=reacher``: train an action-conditioned JEPA world model
(or, with ``model.objective=reconstruction``, its pixel-reconstruction counterpart).

config -> data (collected if missing) -> model -> training loop -> checkpoint + diagnostics.
Under ``torchrun --nproc_per_node=N`` it trains with DistributedDataParallel; rank 0 logs and saves.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from worldmodel import checkpoint as ckpt
from worldmodel.collect import collect, default_data_dir, episode_seed
from worldmodel.config import Config, LoggedRunConfig, env_key, env_kwargs, sequence_length
from worldmodel.data import DeviceEpisodes, EpisodeDataset, shift_sequences
from worldmodel.diagnostics import diagnose, encode_episodes, episode_actions, headline
from worldmodel.model import JEPA, WorldModel
from worldmodel.objectives import ema_update
from worldmodel.refit import refit_predictor
from worldmodel.runtime import distributed as dist
from worldmodel.runtime.device import autocast, autocast_dtype, resolve_device, to_device
from worldmodel.runtime.errors import InputError, Interrupted
from worldmodel.runtime.progress import progress
from worldmodel.runtime.runlog import RunLogger
from worldmodel.runtime.schema import leaf_paths, runtime_paths
from worldmodel.runtime.seeding import seed_everything

USAGE = """usage: python -m worldmodel.train [key=value ...]
Train a JEPA world model (collecting its data set first if needed), e.g.
  python -m worldmodel.train env=reacher
  python -m worldmodel.train env=wall preset=gpu device=cuda
  python -m worldmodel.train preset=debug run_dir=/tmp/run
  python -m worldmodel.train env=reacher model.objective=reconstruction run_dir=runs/reacher-recon
  torchrun --nproc_per_node=2 -m worldmodel.train env=reacher"""

RUNTIME = runtime_paths(Config, LoggedRunConfig)
CURVES = ("rollout_mse", "copy_last_mse")
"""Per-horizon diagnostics logged as lists, so that training.png shows rollout error over steps."""
"""Settings that may differ between a run and its resumption without changing the model: the run
section (by definition) and the fields marked runtime (threads, log_every, ...)."""


class TrainingError(InputError):
    """Training cannot go on for a reason the user can fix (a non-finite loss, a mismatched run
    folder)."""


def default_run_dir(cfg: Config) -> Path:
    suffix = f"-seed{cfg.seed}" if cfg.seed else ""
    return Path("runs") / f"{env_key(cfg.env)}-{cfg.preset}{suffix}"


def train(cfg: Config) -> Path:
    """Train the model ``cfg`` describes; returns the path of the final checkpoint.

    Ctrl-C saves a checkpoint at the interruption and says how to resume it."""
    device = setup(cfg)
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    path = run_dir / "checkpoint.pt"
    existing = _check_run_dir(cfg, path)
    if existing is not None and existing.get("complete") and not cfg.resume:
        if dist.rank() == 0:
            print(
                f"{path} already holds this model, trained for {existing['step']} steps: reusing it"
            )
        return path
    run = build(cfg, device, path, existing)
    steps = cfg.train.steps
    assert steps is not None  # Config fills in the world's recipe
    bar = progress(
        total=steps,
        initial=run.step,
        desc="train",
        unit="step",
        enabled=run.is_main and cfg.progress,
    )
    try:
        while run.step < steps:
            metrics = step(run)
            bar.update(1)
            logs = run.step % cfg.train.log_every == 0 or run.step == steps
            evaluates = run.step < steps and run.step % cfg.train.eval_every == 0
            if logs or evaluates:  # (save and finish check for themselves)
                run.losses.check(run)  # on every process, before rank 0 evaluates alone
            if logs:
                metrics = {k: float(v) for k, v in metrics.items()}  # waits for the device
                metrics["frames_per_s"] = run.frames / (time.perf_counter() - run.started)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}", fps=f"{metrics['frames_per_s']:.0f}")
                run.log.log(run.step, metrics)
            if run.step < steps:
                if run.is_main and evaluates:
                    bar.write(f"step {run.step}: {headline(evaluate(run))}")
                if run.step % cfg.train.ckpt_every == 0:
                    save(run, complete=False)
    except KeyboardInterrupt:
        bar.close()
        save(run, complete=False)
        run.log.close()
        raise Interrupted(
            f"checkpoint saved at step {run.step} in {path}", ("resume=true",)
        ) from None
    bar.close()
    finish(run)
    return path


@dataclass
class Run:
    """What the training loop works on, made by :func:`build`."""

    cfg: Config
    device: torch.device
    path: Path
    """The run's checkpoint file."""
    dataset: EpisodeDataset
    train_eps: np.ndarray
    on_device: DeviceEpisodes | None
    """The training episodes in the device's memory (``data.on_device``), or None: from disk."""
    val_eps: np.ndarray
    model: JEPA
    net: torch.nn.Module
    """The model as trained: wrapped in DDP and/or compiled."""
    opt: torch.optim.Optimizer
    step: int
    rng: np.random.Generator
    proj_gen: torch.Generator
    log: RunLogger
    meta: dict
    """The env and data facts stored in the checkpoint."""
    state_features: Any
    is_main: bool
    losses: LossWatch
    started: float = field(default_factory=time.perf_counter)
    frames: int = 0


class LossWatch:
    """The first step whose loss or gradient norm was not finite on any process, noted on the
    device: a check each step would make the CPU wait for the GPU before queuing the next step.
    :meth:`check` reads it back, at the steps that log, evaluate or save and at the end, so that
    no checkpoint holds the weights a non-finite step spoilt."""

    def __init__(self, device: torch.device):
        self.step = torch.full((), -1, dtype=torch.long, device=device)  # -1: none yet
        self.values = torch.zeros(2, device=device)  # that step's loss and gradient norm

    def see(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> None:
        """Note optimiser step ``step``'s loss and gradient norm (scalars on the device, the norm
        None where it was not computed), without waiting for the device."""
        norm = loss.new_zeros(()) if grad_norm is None else grad_norm
        values = torch.stack([loss.detach().float(), norm.detach().float()])  # [2]
        # the mean over processes: not finite if it was not on any one of them
        values = dist.sum_over_ranks(values) / dist.world_size()
        first = ~torch.isfinite(values).all() & (self.step < 0)
        self.step = torch.where(first, step, self.step)
        self.values = torch.where(first, values, self.values)

    def check(self, run: Run) -> None:
        """Stop the run with its fix if a step seen so far was not finite (every process alike)."""
        bad = int(self.step)
        if bad >= 0:
            loss, norm = self.values.tolist()
            what = (
                f"loss became {loss}"
                if not math.isfinite(loss)
                else f"gradient norm became {norm} (loss {loss:.4g})"
            )
            run.log.close()
            kept = run.path if run.path.exists() else "(none yet)"
            raise TrainingError(
                f"{what} at step {bad}; training stopped. The last good checkpoint is kept at "
                f"{kept}. Lower train.lr or raise the regularizer weight"
            )


def setup(cfg: Config) -> torch.device:
    """The device (one per rank under torchrun), the process group, the seeds, the threads."""
    device = resolve_device(cfg.device)
    if dist.init_from_env(device.type) and device.type == "cuda":
        device = torch.device("cuda", dist.rank() % torch.cuda.device_count())
    seed_everything(cfg.seed, dist.rank())
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    return device


def build(cfg: Config, device: torch.device, path: Path, existing: dict | None) -> Run:
    """Data (rank 0 collects or reuses it; a refusal there stops every rank alike), model,
    optimiser, logger, and the state of the interrupted run when resuming."""
    is_main = dist.rank() == 0
    dist.on_main(lambda: collect(cfg))
    seed = episode_seed(cfg.data, cfg.seed)
    data_dir = Path(cfg.data.dir) if cfg.data.dir else default_data_dir(cfg.env, cfg.data, seed)
    dataset = EpisodeDataset(
        data_dir,
        verify=cfg.data.verify and is_main,
        expect={"image_size": cfg.env.image_size, "action_repeat": cfg.env.action_repeat},
    )
    train_eps, val_eps = dataset.split(cfg.data.val_fraction, cfg.data.train_episodes)
    action_dim, size = int(dataset.manifest["action_dim"]), cfg.env.image_size
    meta = {
        "env": {
            "name": cfg.env.name,
            "key": env_key(cfg.env),
            "image_size": size,
            "action_dim": action_dim,
            "action_repeat": cfg.env.action_repeat,
            "kwargs": env_kwargs(cfg.env),
            "world_revision": int(dataset.manifest.get("world_revision", 1)),  # of its data
        },
        "data": {
            "dir": str(data_dir),
            "frames": dataset.manifest["frames"],
            "episodes": dataset.num_episodes,
            "train_episodes": len(train_eps),
            "train_frames": len(train_eps) * (dataset.episode_length + 1),
        },
    }
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
            _truncate_metrics(path.parent / "metrics.jsonl", step)
    net: torch.nn.Module = DistributedDataParallel(model) if dist.is_distributed() else model
    if cfg.train.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    log = RunLogger(
        path.parent,
        asdict(cfg),
        cfg.logger,
        enabled=is_main,
        wandb_mode=cfg.wandb_mode,
        project=cfg.wandb_project,
        name=path.parent.name,
    )
    if is_main:
        (path.parent / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    run = Run(
        cfg=cfg,
        device=device,
        path=path,
        dataset=dataset,
        train_eps=train_eps,
        val_eps=val_eps,
        on_device=_on_device(cfg, dataset, train_eps, device),
        model=model,
        net=net,
        opt=opt,
        step=step,
        rng=np.random.default_rng([cfg.seed, dist.rank(), step]),
        proj_gen=torch.Generator().manual_seed(cfg.seed * 7919 + step),  # same on every rank
        log=log,
        meta=meta,
        state_features=_state_features(cfg),
        is_main=is_main,
        losses=LossWatch(device),
    )
    if cfg.resume and existing is not None and "random_state" in existing:
        _restore_random_state(run, existing["random_state"])
    return run


def _on_device(
    cfg: Config, dataset: EpisodeDataset, episodes: np.ndarray, device: torch.device
) -> DeviceEpisodes | None:
    """The training episodes copied to ``device`` when ``data.on_device`` asks for it (None: on a
    GPU where they take at most half its free memory), else None."""
    want = cfg.data.on_device
    if want is False or (want is None and device.type != "cuda"):
        return None
    need = DeviceEpisodes.nbytes(dataset, len(episodes))
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        if need > free // 2:
            if want:
                raise TrainingError(
                    f"data.on_device=true: the {len(episodes)} training episodes take "
                    f"{need / 2**30:.1f} GiB, more than half of the {free / 2**30:.1f} GiB free "
                    f"on {device}; set data.on_device=false to read batches from disk"
                )
            return None
    return DeviceEpisodes(dataset, episodes, device)


def _random_state(run: Run) -> dict:
    """The batch and projection streams where they stand, as plain data (rank 0's batches)."""
    return {
        "batches": json.dumps(run.rng.bit_generator.state),  # 128-bit ints: kept as text
        "projections": run.proj_gen.get_state(),
    }


def _restore_random_state(run: Run, state: dict) -> None:
    """Continue the streams where the checkpoint left them, so that a run resumed from a
    checkpoint trains on the batches and projections the uninterrupted run drew after it (and
    ends with the same weights, on the same machine and threads). Under torchrun only rank 0's
    batch stream is stored; the other ranks draw theirs afresh from (seed, rank, step)."""
    run.proj_gen.set_state(state["projections"])
    if dist.rank() == 0:
        run.rng.bit_generator.state = json.loads(state["batches"])


def step(run: Run) -> dict[str, float | torch.Tensor]:
    """One optimiser step on a fresh batch; returns the step's metrics (the losses as scalar
    tensors on the device, read when logged: reading them each step would wait for the device;
    the loop adds the frame rate then)."""
    cfg = run.cfg
    length = sequence_length(cfg)
    assert cfg.train.shift is not None  # Config fills in the world's recipe
    if run.on_device is not None:
        obs, act = run.on_device.sample(run.rng, cfg.train.batch_size, length, cfg.train.shift)
    else:
        frames, actions = run.dataset.sample(run.rng, run.train_eps, cfg.train.batch_size, length)
        frames = shift_sequences(frames, cfg.train.shift, run.rng)
        obs, act = to_device(frames, run.device), to_device(actions, run.device)
    # obs uint8 [B, L, H, W, 3], act float32 [B, L-1, A], both on run.device
    lr = _lr(cfg, run.step)
    for group in run.opt.param_groups:
        group["lr"] = lr
    with autocast(run.device, autocast_dtype(cfg.train.amp, run.device)):
        loss, parts = run.net(obs, act, run.proj_gen)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = None
    if cfg.train.grad_clip > 0:
        params = [p for p in run.model.parameters() if p.requires_grad]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
    run.losses.see(run.step, loss, grad_norm)
    run.opt.step()
    if run.model.target_encoder is not None:
        ema_update(run.model.target_encoder, run.model.encoder, cfg.model.ema_decay)
    run.step += 1
    run.frames += obs.shape[0] * obs.shape[1] * dist.world_size()
    metrics: dict[str, float | torch.Tensor] = {k: v.detach() for k, v in parts.items()}
    metrics["lr"] = lr
    return metrics


def evaluate(run: Run) -> dict:
    """Diagnostics on held-out episodes (rank 0), logged; the model is left in training mode."""
    cfg = run.cfg
    wm = WorldModel.from_jepa(run.model, cfg.env.image_size, run.meta["env"]["action_dim"])
    # The probe is fit on the whole training split whatever data.train_episodes keeps, so that
    # runs on less data are read out alike (as worldmodel.probe does).
    probe_eps, _ = run.dataset.split(cfg.data.val_fraction)
    assert cfg.train.rollout_steps is not None  # Config fills in the world's recipe
    stats = diagnose(
        wm,
        run.dataset,
        probe_eps,
        run.val_eps,
        run.state_features,
        cfg.train.rollout_steps + 2,
        cfg.train.probe_episodes,
        cfg.train.probe_fit_episodes,
    )
    run.model.train()
    logged = {k: v for k, v in stats.items() if not isinstance(v, list) or k in CURVES}
    run.log.log(run.step, {f"diag/{k}": v for k, v in logged.items()})
    return stats


def save(run: Run, complete: bool, diagnostics: dict | None = None) -> None:
    """The checkpoint, written atomically by rank 0: plain data only."""
    run.losses.check(run)
    if run.is_main:
        ckpt.save(
            run.path,
            {
                "step": run.step,
                "config": asdict(run.cfg),
                **run.meta,
                "model": run.model.state_dict(),
                "optimizer": run.opt.state_dict(),
                "random_state": _random_state(run),
                "complete": complete,
                "diagnostics": diagnostics or {},
            },
        )


REFIT_BATCH = 256
"""Windows per step of the predictor's refit (``train.refit_steps``): vectors, not frames."""


def refit(run: Run) -> None:
    """Fit the predictor alone on the frozen encoder's embeddings of the training episodes
    (``train.refit_steps``; rank 0, whose weights are the ones saved)."""
    cfg = run.cfg
    assert cfg.train.refit_steps is not None and cfg.train.rollout_steps is not None
    wm = WorldModel.from_jepa(run.model, cfg.env.image_size, run.meta["env"]["action_dim"])
    z = encode_episodes(wm, run.dataset, run.train_eps).to(run.device)  # [E, T+1, D]
    bar = progress(total=cfg.train.refit_steps, desc="refit", unit="step", enabled=cfg.progress)
    first, last = refit_predictor(
        run.model.predictor,
        z,
        episode_actions(run.dataset, run.train_eps),  # [E, T, A]
        history=wm.history,
        horizon=cfg.train.rollout_steps,
        action_history=wm.action_history,
        steps=cfg.train.refit_steps,
        batch_size=REFIT_BATCH,
        lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        generator=torch.Generator().manual_seed(cfg.seed),
        on_step=lambda: bar.update(1),
    )
    bar.close()
    run.model.train()
    run.log.log(run.step, {"refit/loss_first": first, "refit/loss_last": last})
    print(
        f"refit the predictor alone: {cfg.train.refit_steps} steps, loss {first:.4f} -> {last:.4f}"
    )


def finish(run: Run) -> None:
    """The predictor's refit if asked, final diagnostics, the complete checkpoint, probe.json,
    training.png and the summary lines."""
    run.losses.check(run)
    if run.is_main and run.cfg.train.refit_steps:
        refit(run)
    stats = evaluate(run) if run.is_main else {}
    save(run, complete=True, diagnostics=stats)
    if run.is_main:
        run_dir = run.path.parent
        (run_dir / "probe.json").write_text(json.dumps(stats, indent=2) + "\n")
        run.log.close()
        fps = run.frames / max(time.perf_counter() - run.started, 1e-9)
        print(
            f"checkpoint: {run.path}\nmetrics:    {run_dir / 'metrics.jsonl'}\n"
            f"diagnostics: {run_dir / 'probe.json'}\n{_pictures(run_dir)}"
        )
        print(f"trained {run.step} steps at {fps:.0f} frames/s; {headline(stats)}")
    dist.barrier()


def _pictures(run_dir: Path) -> str:
    """Draw training.png from metrics.jsonl (see :mod:`worldmodel.report`); its summary line."""
    from worldmodel.report import plot_training

    try:
        return f"curves:     {plot_training(run_dir)}"
    except ImportError as e:  # matplotlib is an extra
        return f"curves:     skipped ({e})"


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows logged after the checkpoint a resumed run continues from (the steps it
    repeats), so that metrics.jsonl holds each step once."""
    if path.exists():
        rows = path.read_text().splitlines(keepends=True)
        path.write_text("".join(r for r in rows if json.loads(r).get("step", 0) <= step))


def _lr(cfg: Config, step: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    t = cfg.train
    assert t.steps is not None  # Config fills in the world's recipe
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    progress = (step - t.warmup) / max(1, t.steps - t.warmup)
    return t.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _state_features(cfg: Config):
    """The env's privileged-feature function for probes (None if the env cannot be built)."""
    from envs import make

    env = make(cfg.env.name, **env_kwargs(cfg.env))
    fn = env.state_features
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
    ignore = RUNTIME | ({"train.steps"} if cfg.resume else set())
    diffs = []
    # Settings added since the checkpoint was written read as their defaults (the old behaviour).
    stored = asdict(ckpt.config_from_dict(payload["config"]))
    for key, _ in leaf_paths(Config):
        old, new = _get(stored, key), _get(asdict(cfg), key)
        if key not in ignore and old != new:
            diffs.append(f"{key}: {old!r} -> {new!r}")
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


def _get(values: dict, path: str):
    for key in path.split("."):
        values = values.get(key) if isinstance(values, dict) else None  # type: ignore[assignment]
    return values


def main(argv: list[str] | None = None) -> Path:
    from worldmodel.runtime.cli import run_command

    return run_command(train, argv, schema=Config, usage=USAGE, name="worldmodel.train")


if __name__ == "__main__":
    main(sys.argv[1:])
