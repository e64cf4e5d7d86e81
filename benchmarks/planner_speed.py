"""Decision latency and latent transitions/s of the planners against samples and horizon.

    python benchmarks/planner_speed.py [--checkpoint PATH] [--device cpu|cuda] [--out PATH]

Times one full plan (all iterations) for one episode, as the agent's decision latency, with the
default cpu-preset model (random weights unless --checkpoint: speed does not depend on them),
in fp32 and under bf16 autocast.
"""

from __future__ import annotations

import argparse
import time

import torch

from agents.planning import PlannerConfig, goal_cost, make_planner
from benchmarks._common import machine, write_json
from worldmodel.cli import load_config
from worldmodel.device import resolve_device
from worldmodel.model import JEPA, WorldModel


def build_model(checkpoint: str | None, device: torch.device) -> WorldModel:
    if checkpoint:
        import worldmodel

        return worldmodel.load(checkpoint, device=str(device))
    cfg = load_config([])
    jepa = JEPA(cfg.model, cfg.env.image_size, 2)
    return WorldModel(
        jepa.encoder,
        jepa.predictor,
        image_size=cfg.env.image_size,
        action_dim=2,
        history=cfg.model.history,
        embed_dim=cfg.model.embed_dim,
    ).to(device)


def time_plan(model: WorldModel, cfg: PlannerConfig, dtype: torch.dtype | None, reps: int) -> dict:
    device = model.device
    planner = make_planner(cfg, model.action_dim, device)
    hist = torch.randn(1, model.history, model.embed_dim, device=device)
    goal = torch.randn(1, model.embed_dim, device=device)
    expanded = hist.repeat_interleave(cfg.samples, 0)

    def rollout(actions):  # [1, N, H, A] -> [1, N, H, D]
        e, n, h, a = actions.shape
        return model.rollout(expanded, actions.reshape(e * n, h, a)).reshape(e, n, h, -1)

    cost = goal_cost(goal, cfg.cost, cfg.cost_weighting)
    gen = torch.Generator(device=device).manual_seed(0)
    times = []
    for i in range(reps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        ctx = (
            torch.autocast(device.type, dtype=dtype)
            if dtype
            else torch.autocast(device.type, enabled=False)
        )
        with torch.inference_mode(), ctx:
            result = planner.plan(rollout, cost, 1, generator=gen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t)
    times.sort()
    med = times[len(times) // 2]
    return {
        "planner": cfg.name,
        "samples": cfg.samples,
        "iterations": cfg.iterations,
        "horizon": cfg.horizon,
        "dtype": "bf16" if dtype else "fp32",
        "plan_ms_median": med * 1e3,
        "plan_ms_p95": times[min(len(times) - 1, int(0.95 * len(times)))] * 1e3,
        "transitions_per_s": result.transitions / med,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = build_model(args.checkpoint, device)
    rows = []
    for name in ("cem", "mppi"):
        for samples in args.samples:
            for horizon in args.horizons:
                # bf16 only at the protocol setting: on CPUs without a fast bf16 GEMM it is slow.
                protocol = samples == 300 and horizon == 5
                for dtype in (
                    (None, torch.bfloat16) if protocol or device.type == "cuda" else (None,)
                ):
                    cfg = PlannerConfig(
                        name=name, samples=samples, horizon=horizon, elites=min(30, samples)
                    )
                    row = time_plan(model, cfg, dtype, args.reps)
                    rows.append(row)
                    print(
                        f"{name} {samples:>5} x 30 x H{horizon:<2} {row['dtype']}: {row['plan_ms_median']:7.1f} ms "
                        f"({row['transitions_per_s'] / 1e6:.2f} M transitions/s)"
                    )
    params = sum(p.numel() for p in model.predictor.parameters())
    write_json(
        f"planner_speed_{device.type}.json",
        {"machine": machine(), "device": str(device), "predictor_params": params, "results": rows},
        args.out,
    )


if __name__ == "__main__":
    main()
