"""Does the joint objective hold the predictor back? Refit it alone on the frozen embeddings.

    python -m benchmarks.predictor_refit --checkpoint runs/X --out runs/X-refit
                                         [--steps 800] [--horizon 5] [--batch 256] [--lr 1e-3]
                                         [--seed 0] [--threads N]

Encodes the checkpoint's training episodes once with its encoder, fits its predictor alone to
the mean squared error of open-loop rollouts over ``--horizon`` steps from every window
(``worldmodel.refit``; AdamW at a constant ``--lr``, starting from the trained weights), and
writes ``<out>/checkpoint.pt``: the same model with the refit predictor, which every command
that takes a checkpoint accepts (``python -m worldmodel.probe``, ``python -m agents.evaluate``).
Before and after, it scores open-loop rollouts on the held-out episodes against copy-last (as
the training diagnostics do) and writes them to ``<out>/refit.json``. The per-step gradient
norms of each loss term on the predictor's weights, for one training batch, go there too: they
say how much of the predictor's training the prediction error drove.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import machine, write_json
from worldmodel import checkpoint as ckpt
from worldmodel.api import load, model_dataset
from worldmodel.config import sequence_length
from worldmodel.diagnostics import encode_episodes, episode_actions, rollout_errors
from worldmodel.model import JEPA
from worldmodel.refit import refit_predictor
from worldmodel.runtime.progress import progress


def gradient_shares(
    net: JEPA, frames: np.ndarray, actions: np.ndarray, seed: int
) -> dict[str, float]:
    """The gradient norm each weighted loss term puts on the predictor's weights, for one batch
    of training sequences: frames uint8 [B, L, H, W, 3], actions [B, L-1, A]."""
    net.train()
    _, parts = net(
        torch.from_numpy(frames), torch.from_numpy(actions), torch.Generator().manual_seed(seed)
    )
    cfg = net.cfg
    weights = {
        "pred_tf": 1.0,
        "pred_rollout": 1.0,
        "contrast": cfg.contrast_weight,
        "sigreg": cfg.sigreg_weight,
        "temporal": cfg.temporal_weight,
    }
    norms = {}
    for name, weight in weights.items():
        if name not in parts or not weight:
            continue
        net.zero_grad(set_to_none=True)
        (weight * parts[name]).backward(retain_graph=True)
        grads = [p.grad for p in net.predictor.parameters() if p.grad is not None]
        norms[name] = float(sum(float((g.float() ** 2).sum()) for g in grads) ** 0.5)
    net.zero_grad(set_to_none=True)
    return norms


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True, help="folder for checkpoint.pt and refit.json")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--horizon", type=int, default=5, help="open-loop steps in the loss")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    source = Path(args.checkpoint)
    if (out / "checkpoint.pt").resolve() == (
        source / "checkpoint.pt" if source.is_dir() else source
    ).resolve():
        parser.error(
            f"--out {out} would overwrite --checkpoint {args.checkpoint}; pick another folder"
        )
    torch.manual_seed(args.seed)
    model = load(args.checkpoint, device="cpu")
    payload = ckpt.read(args.checkpoint)
    cfg = ckpt.config_from_dict(payload["config"])
    dataset = model_dataset(model)
    train_eps, val_eps = dataset.split(cfg.data.val_fraction, cfg.data.train_episodes)
    val_eps = val_eps[: cfg.train.probe_episodes]

    net = JEPA(cfg.model, model.image_size, model.action_dim)
    net.load_state_dict(payload["model"])
    frames, actions = dataset.sample(
        np.random.default_rng(args.seed), train_eps, cfg.train.batch_size, sequence_length(cfg)
    )
    grads = gradient_shares(net, frames, actions, args.seed)

    z_val, a_val = encode_episodes(model, dataset, val_eps), episode_actions(dataset, val_eps)
    before = rollout_errors(model, z_val, a_val, args.horizon)
    started = time.perf_counter()
    z_train = encode_episodes(model, dataset, train_eps)  # [E, T+1, D]
    bar = progress(total=args.steps, desc="refit", unit="step")
    first, last = refit_predictor(
        model.predictor,
        z_train,
        episode_actions(dataset, train_eps),
        history=model.history,
        horizon=args.horizon,
        action_history=model.action_history,
        steps=args.steps,
        batch_size=args.batch,
        lr=args.lr,
        weight_decay=cfg.train.weight_decay,
        generator=torch.Generator().manual_seed(args.seed),
        on_step=lambda: bar.update(1),
    )
    bar.close()
    seconds = time.perf_counter() - started
    model.eval()
    after = rollout_errors(model, z_val, a_val, args.horizon)

    state = payload["model"]
    for name, value in model.predictor.state_dict().items():
        state[f"predictor.{name}"] = value.clone()
    refit = {k: payload[k] for k in payload if k not in ("format", "format_version", "path")}
    refit["refit"] = {"from": str(args.checkpoint), **vars(args)}
    ckpt.save(out / "checkpoint.pt", refit)
    result = {
        "checkpoint": str(args.checkpoint),
        "settings": vars(args),
        "train_episodes": len(train_eps),
        "val_episodes": len(val_eps),
        "predictor_grad_norm_by_term": grads,
        "loss_first_tenth": first,
        "loss_last_tenth": last,
        "seconds": seconds,
        "before": before,
        "after": after,
        "machine": machine(),
    }
    write_json("", result, str(out / "refit.json"))
    b, a = before["copy_over_rollout"], after["copy_over_rollout"]
    print(
        f"rollout vs copy-last on {len(val_eps)} held-out episodes, 1 / {args.horizon} steps: "
        f"{b[0]:.2f}x / {b[-1]:.2f}x before, {a[0]:.2f}x / {a[-1]:.2f}x after "
        f"({args.steps} steps, {seconds:.0f} s); checkpoint: {out / 'checkpoint.pt'}"
    )
    return out / "checkpoint.pt"


if __name__ == "__main__":
    main()
