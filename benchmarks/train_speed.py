"""Training throughput (frames/s) of the cpu preset here, and of the gpu preset on CUDA.

    python benchmarks/train_speed.py [--steps 30] [--out PATH]
    python benchmarks/train_speed.py preset=gpu env=dmc env.domain=swimmer env.task=swimmer6 --action-dim 5

Frames/s counts every frame encoded per optimizer step (batch x sequence length), on synthetic
uint8 frames so that data loading is not measured. Without overrides it measures the cpu preset
here and the gpu preset on CUDA; with them, that one configuration (its world's recipe included)
on CUDA if there is one, else here: a lent GPU session sizes its runs from it.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks._common import machine, write_json
from worldmodel.config import Config, sequence_length
from worldmodel.model import JEPA
from worldmodel.runtime.cli import load_config
from worldmodel.runtime.device import autocast, autocast_dtype, resolve_device


def measure(overrides: list[str], device: torch.device, steps: int, action_dim: int = 2) -> dict:
    cfg = load_config(overrides, schema=Config)
    preset_steps = cfg.train.steps
    assert preset_steps is not None  # Config fills in the world's recipe
    length = sequence_length(cfg)
    size = cfg.env.image_size
    model = JEPA(cfg.model, size, action_dim).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    amp = autocast_dtype(cfg.train.amp, device)
    obs = torch.randint(
        0, 256, (cfg.train.batch_size, length, size, size, 3), dtype=torch.uint8, device=device
    )
    act = torch.rand(cfg.train.batch_size, length - 1, action_dim, device=device) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(device, amp):
            loss, _ = model(obs, act, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # warm-up steps excluded
            times.append(time.perf_counter() - t)
    per_step = sorted(times)[len(times) // 2]
    frames = cfg.train.batch_size * length
    return {
        "preset": cfg.preset,
        "overrides": overrides,
        "device": str(device),
        "amp": str(amp),
        "batch": cfg.train.batch_size,
        "sequence": length,
        "image_size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "step_ms_median": per_step * 1e3,
        "frames_per_s": frames / per_step,
        "preset_steps": preset_steps,
        "estimated_train_minutes": preset_steps * per_step / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("overrides", nargs="*", help="config overrides of one configuration")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--action-dim", type=int, default=2, help="the world's action size")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.overrides:
        device = resolve_device("cuda" if torch.cuda.is_available() else "cpu")
        rows = [measure(args.overrides, device, args.steps, args.action_dim)]
    else:
        rows = [measure(["preset=cpu"], torch.device("cpu"), args.steps)]
        if torch.cuda.is_available():
            rows.append(measure(["preset=gpu"], resolve_device("cuda"), args.steps))
    for r in rows:
        print(
            f"{r['preset']:>4} on {r['device']}: {r['frames_per_s']:.0f} frames/s "
            f"({r['step_ms_median']:.0f} ms/step, ~{r['estimated_train_minutes']:.1f} min for {r['preset_steps']} steps)"
        )
    write_json("train_speed.json", {"machine": machine(), "results": rows}, args.out)


if __name__ == "__main__":
    main()
