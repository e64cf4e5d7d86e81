"""Decision latency and latent transitions/s of the planners against samples and horizon.

    python benchmarks/planner_speed.py [--checkpoint PATH] [--device cpu|cuda] [--out PATH]

Times the agent's decision latency (one full plan, all iterations, measured around the planner
call as agents.evaluate does) with the default cpu-preset model (random weights unless
--checkpoint: speed does not depend on them), in fp32 and under bf16 autocast; on CUDA also with
the plan captured as a CUDA graph, for 1 episode and for --parallel episodes in one batch.
"""

from __future__ import annotations

import argparse

import torch

from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from benchmarks._common import machine, write_json
from worldmodel.model import JEPA, WorldModel
from worldmodel.runtime.cli import load_config
from worldmodel.runtime.device import resolve_device


def build_model(
    checkpoint: str | None, device: torch.device, overrides: list[str] | None = None
) -> WorldModel:
    """The checkpoint's model, or the default config's (with ``overrides``) at random weights."""
    if checkpoint:
        import worldmodel

        return worldmodel.load(checkpoint, device=str(device))
    cfg = load_config(overrides or [])
    jepa = JEPA(cfg.model, cfg.env.image_size, 2)
    return WorldModel(
        jepa.encoder,
        jepa.predictor,
        image_size=cfg.env.image_size,
        action_dim=2,
        history=cfg.model.history,
        embed_dim=cfg.model.embed_dim,
    ).to(device)


def time_plan(
    model: WorldModel,
    cfg: PlannerConfig,
    dtype: torch.dtype | None,
    reps: int,
    episodes: int = 1,
    graph: bool = False,
    compile: bool = False,
) -> dict:
    """Decision latency of ``LatentMPCAgent`` (the time around its planner call, as
    agents.evaluate reports it) for ``episodes`` planned in one batch, after two warm-up
    decisions (the first one captures the CUDA graph when ``graph``)."""
    planner = make_planner(cfg, model.action_dim, model.device)
    agent = LatentMPCAgent(
        model,
        planner,
        autocast_dtype=dtype,
        cuda_graph=graph,
        compile=compile,
    )
    gen = torch.Generator().manual_seed(0)
    size = (episodes, model.image_size, model.image_size, 3)
    agent.reset_batch(torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).numpy())
    frames = torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).numpy()
    times = []
    for i in range(reps + 2):
        agent.act_batch(frames)
        if i >= 2:
            times.append(agent.last_plan_ms)
    times.sort()
    med = times[len(times) // 2]
    return {
        "planner": cfg.name,
        "samples": cfg.samples,
        "iterations": cfg.iterations,
        "horizon": cfg.horizon,
        "episodes": episodes,
        "dtype": "bf16" if dtype else "fp32",
        "cuda_graph": agent.cuda_graph,
        "compile": agent.compile,
        "plan_ms_median": med,
        "plan_ms_p95": times[min(len(times) - 1, int(0.95 * len(times)))],
        "transitions_per_s": agent.last_transitions / (med / 1e3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument(
        "overrides",
        nargs="*",
        help="config overrides of the random-weight model, e.g. model.hidden=192",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--horizons", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--out", default=None)
    parser.add_argument("--parallel", type=int, default=25, help="episodes per batch on CUDA")
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = build_model(args.checkpoint, device, args.overrides)
    rows = []
    # (CUDA graph, episodes per batch, torch.compile): on CUDA, eager and graphed, 1 episode and
    # the 25 that agents.evaluate plays in parallel there; compiled at the protocol setting only.
    variants = (
        [(False, 1, False), (True, 1, False), (True, args.parallel, False)]
        + [(True, 1, True), (True, args.parallel, True)]
        if device.type == "cuda"
        else [(False, 1, False)]
    )
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
                    for graph, episodes, compile in variants:
                        if compile and not protocol:
                            continue
                        row = time_plan(model, cfg, dtype, args.reps, episodes, graph, compile)
                        rows.append(row)
                        print(
                            f"{name} {samples:>5} x 30 x H{horizon:<2} {row['dtype']} E={episodes}"
                            f"{' graph' if row['cuda_graph'] else ''}{' compiled' if row['compile'] else ''}: {row['plan_ms_median']:7.2f} ms "
                            f"({row['transitions_per_s'] / 1e6:.2f} M transitions/s)"
                        )
    params = sum(p.numel() for p in model.predictor.parameters())
    write_json(
        f"planner_speed_{device.type}.json",
        {
            "machine": machine(),
            "device": str(device),
            "checkpoint": args.checkpoint,
            "overrides": args.overrides,
            "predictor_params": params,
            "results": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
