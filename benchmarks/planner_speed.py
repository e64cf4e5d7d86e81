"""Decision latency and latent transitions/s of the planners, and the race against the peer.

    python -m benchmarks.planner_speed [--checkpoint PATH] [--device cpu|cuda] [--out PATH]
    python -m benchmarks.planner_speed --race-only --reps 5        # only the race, prints it

Times the agent's decision latency (one full plan, all iterations, measured around the planner
call as agents.evaluate does) with the default cpu-preset model (random weights unless
--checkpoint: speed does not depend on them), in fp32 and under bf16 autocast; on CUDA also with
the plan captured as a CUDA graph, for 1 episode and for --parallel episodes in one batch.

The race: when stable-worldmodel 0.1.1 is installed (``pip install "worldmodel[peers]"``, or
without its heavy dependencies ``pip install --no-deps stable-worldmodel==0.1.1 loguru``), its
CEMSolver and MPPISolver plan the same episodes at the protocol setting (300 samples x 30
iterations x horizon 5, 30 elites, init std 1, MPPI temperature 0.5) for each of --peer-episodes,
fp32, eager (no CUDA graph on either side). Only its solver modules are loaded, not the package's
``__init__`` (which imports lancedb, pyarrow, torchvision, its envs, ...): two empty parent
package modules point at the installed folders and ``solver/cem.py`` and ``solver/mppi.py`` are
imported as released, nothing stubbed (benchmarks/peer_solvers.py says exactly how). Both sides
use the same predictor, the agent's own rollout function (history expanded over the samples once
per decision) and the same goal cost (l2, mean over the predicted steps), and both make 30
rollout calls of E x 300 x 5 latent transitions per decision (the counts are printed and
stored). Each repetition times one decision of ours then one of the peer's on the same history,
so both see the same machine load; the row's ratio is peer ms / our ms (above 1: we are faster).
Differences that remain are the planners' own: ours clamps samples to [-1, 1] and returns the
best sequence seen, the peer's returns its last mean and prints one line per solve (captured).
If the package cannot be loaded the benchmark says so in one line and runs our rows alone.

On a machine shared with other jobs, torch's OpenMP threads spin against them: at load 13 on 2
cores a 130 ms decision took 6 s with 2 threads and 0.25 to 1.4 s with ``OMP_NUM_THREADS=1``.
The load average at the start is stored with the results; compare ratios, not milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from types import SimpleNamespace

import torch

from agents.mpc import LatentMPCAgent
from agents.planners import PlannerConfig, make_planner
from agents.planners.cost import make_cost
from benchmarks import peer_solvers
from benchmarks._common import machine, write_json
from worldmodel.config import Config
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
    cfg = load_config(overrides or [], schema=Config)
    jepa = JEPA(cfg.model, cfg.env.image_size, 2)
    return WorldModel.from_jepa(jepa, cfg.env.image_size, 2).to(device)


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


def race(model: WorldModel, cfg: PlannerConfig, solvers: dict, reps: int, episodes: int) -> dict:
    """Our agent's decision against the peer's solver of the same name (fp32, eager), one of
    each per repetition on the same history and goal, after two warm-up decisions each."""
    import gymnasium as gym

    agent = LatentMPCAgent(
        model, make_planner(cfg, model.action_dim, model.device), cuda_graph=False
    )
    peer_cost = peer_solvers.PeerCost()
    options = dict(
        batch_size=episodes,
        num_samples=cfg.samples,
        var_scale=cfg.init_std,
        n_steps=cfg.iterations,
        topk=cfg.elites,
        device=model.device,
        seed=0,
    )
    if cfg.name == "mppi":
        options["temperature"] = cfg.temperature
    solver = solvers[cfg.name](peer_cost, **options)
    solver.configure(
        action_space=gym.spaces.Box(-1.0, 1.0, (episodes, model.action_dim)),
        n_envs=episodes,
        config=SimpleNamespace(horizon=cfg.horizon, action_block=1),
    )
    gen = torch.Generator().manual_seed(0)
    size = (episodes, model.image_size, model.image_size, 3)
    agent.reset_batch(torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).numpy())
    frames = torch.randint(0, 256, size, generator=gen, dtype=torch.uint8).numpy()
    ours, theirs = [], []
    peer_plan = None
    for i in range(reps + 2):
        past = agent._past  # the actions between the frames of the history act_batch builds
        agent.act_batch(frames)  # (then it appends the action it took)
        past = agent._past if past is None else past  # first call: its zeros, one step on
        history, goal = agent._history, agent._z_goal  # the state our plan started from
        assert history is not None and goal is not None
        init: torch.Tensor | None = (
            None if peer_plan is None else peer_plan[:, 1:]
        )  # the plan's unexecuted rest
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        start = time.perf_counter()
        with torch.inference_mode():
            peer_cost.use(agent._rollout_fn(history, past), make_cost(agent.cost, goal))
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its solve time
                peer_plan = solver.solve({"history": history, "goal": goal}, init_action=init)[
                    "actions"
                ].to(model.device)
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        if i >= 2:
            ours.append(agent.last_plan_ms)
            theirs.append((time.perf_counter() - start) * 1e3)
    ours.sort()
    theirs.sort()
    ours_ms, peer_ms = ours[len(ours) // 2], theirs[len(theirs) // 2]
    return {
        "planner": cfg.name,
        "peer": f"{peer_solvers.PACKAGE} {solvers[cfg.name].__name__}",
        "samples": cfg.samples,
        "iterations": cfg.iterations,
        "horizon": cfg.horizon,
        "elites": cfg.elites,
        "episodes": episodes,
        "dtype": "fp32",
        "reps": reps,
        "plan_ms_median": ours_ms,
        "peer_plan_ms_median": peer_ms,
        "plan_ms_all": ours,
        "peer_plan_ms_all": theirs,
        "ratio": peer_ms / ours_ms,
        "rollout_calls": agent.last_rollout_calls,
        "peer_rollout_calls": peer_cost.rollout_calls,
        "transitions": agent.last_transitions,
        "peer_transitions": peer_cost.transitions,
    }


def run_race(model: WorldModel, episodes: list[int], reps: int) -> dict | str:
    """The race rows at the protocol setting, or one line saying why there is no race."""
    if not episodes:
        return "race not run (--peer-episodes given no value)"
    try:
        solvers, how = peer_solvers.load()
    except ImportError as err:
        line = f"no race against {peer_solvers.PACKAGE}: {err}"
        print(line)
        return line
    rows = []
    for name in ("cem", "mppi"):
        for count in episodes:
            row = race(model, PlannerConfig(name=name), solvers, reps, count)
            rows.append(row)
            print(
                f"race {name} 300 x 30 x H5 fp32 E={count}: ours {row['plan_ms_median']:7.2f} ms, "
                f"{row['peer']} {row['peer_plan_ms_median']:7.2f} ms, ratio {row['ratio']:.2f}x "
                f"(rollout calls {row['rollout_calls']} / {row['peer_rollout_calls']}, "
                f"transitions {row['transitions']} / {row['peer_transitions']})"
            )
    return {"package": peer_solvers.PACKAGE, "loaded": how, "results": rows}


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
    parser.add_argument(
        "--peer-episodes",
        type=int,
        nargs="*",
        default=[1, 25],
        help="episodes per plan in the race against stable-worldmodel (none: no race)",
    )
    parser.add_argument(
        "--race-only",
        action="store_true",
        help="only the race against the peer (writes a file only with --out)",
    )
    args = parser.parse_args()
    load = os.getloadavg()  # a shared machine's load at the start (1, 5, 15 min): timings with it
    device = resolve_device(args.device)
    model = build_model(args.checkpoint, device, args.overrides)
    peer = run_race(model, args.peer_episodes, args.reps)
    if args.race_only:
        if args.out:
            payload = {"machine": machine(), "load_average": load, "device": str(device)}
            write_json("", {**payload, "peer": peer}, args.out)
        return
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
            "load_average": load,
            "device": str(device),
            "checkpoint": args.checkpoint,
            "overrides": args.overrides,
            "predictor_params": params,
            "results": rows,
            "peer": peer,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
