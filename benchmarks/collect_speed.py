"""Collection throughput: frames/s of ``worldmodel.collect`` with one worker and with all cores.

    python benchmarks/collect_speed.py                      # reacher, 64 px, ~3000 frames per run
    python benchmarks/collect_speed.py --env wall --frames 5000
    python benchmarks/collect_speed.py --env dmc env.domain=walker env.task=walk

Each run collects the same data set (same seed, same shards) into a fresh temporary folder and
is timed end to end, worker start-up included, as a user would see it. The result (frames/s of
each run, the speedup, the machine, the date and the git commit) is written as JSON to
``--out`` and printed. The goal for parallel collection is a speedup of at least 1.7 on all
cores; a busy machine (see ``load_average``) measures less. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worldmodel.runtime.provenance import cpu_name

REPO = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 1.7


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="reacher", help="world: reacher | point_mass | wall | dmc")
    p.add_argument("--frames", type=int, default=3000, help="frames to collect in each run")
    p.add_argument("--image-size", type=int, default=64, help="frame side in pixels")
    p.add_argument("--action-repeat", type=int, default=5, help="control steps per decision")
    p.add_argument("--episode-length", type=int, default=100, help="decisions per episode")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the 'all' run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results" / "collect_speed.json",
        help="JSON result file",
    )
    p.add_argument("overrides", nargs="*", help="extra collect settings, e.g. env.domain=walker")
    args = p.parse_args(argv)
    for name in ("frames", "image_size", "action_repeat", "episode_length", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def layout(frames: int, episode_length: int, workers: int) -> tuple[int, int]:
    """(episodes, episodes per shard) for about ``frames`` frames, in whole rounds of
    ``workers`` shards (about three shards per worker), so that no worker idles at the end."""
    episodes = math.ceil(frames / (episode_length + 1))
    shard_episodes = max(1, math.ceil(episodes / (3 * workers)))
    rounds = math.ceil(episodes / (shard_episodes * workers))
    return rounds * shard_episodes * workers, shard_episodes


def config(args: argparse.Namespace, root: str, workers: int, episodes: int, shard_episodes: int):
    """The collect settings of one run (a ``worldmodel.config.Config``)."""
    from worldmodel.config import Config
    from worldmodel.runtime.cli import load_config

    return load_config(
        [
            f"env={args.env}",
            f"env.image_size={args.image_size}",
            f"env.action_repeat={args.action_repeat}",
            f"data.dir={root}",
            f"data.episodes={episodes}",
            f"data.episode_length={args.episode_length}",
            f"data.shard_episodes={shard_episodes}",
            f"data.workers={workers}",
            f"seed={args.seed}",
            "progress=false",
            *args.overrides,
        ],
        schema=Config,
    )


def timed_collect(args: argparse.Namespace, workers: int, episodes: int, shard_episodes: int):
    """Collect into a fresh folder with ``workers`` processes; returns (frames, seconds)."""
    from worldmodel import data as D
    from worldmodel.collect import collect

    with tempfile.TemporaryDirectory(prefix="collect_speed_") as tmp:
        cfg = config(args, tmp, workers, episodes, shard_episodes)
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
            collect(cfg)
        seconds = time.perf_counter() - start
        manifest = D.read_manifest(Path(tmp))
        assert manifest is not None and manifest["complete"]
        return int(manifest["frames"]), seconds


def machine() -> dict:
    """Where it ran (not benchmarks/_common.machine, which imports torch)."""
    cpu = cpu_name()
    import mujoco

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
    }


def git_commit() -> str | None:
    """HEAD, with ``-dirty`` when the working tree has changes; None outside a git checkout."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        return git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain") else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    episodes, shard_episodes = layout(args.frames, args.episode_length, args.workers)
    # Warm up: the in-process one-worker run should not pay for imports and GL start-up.
    import envs
    from worldmodel.config import env_kwargs

    env_cfg = config(args, "", 1, episodes, shard_episodes).env
    envs.make(env_cfg.name, **env_kwargs(env_cfg)).close()
    before = machine()
    runs = {}
    for name, workers in (("one_worker", 1), ("all_workers", args.workers)):
        print(f"collect_speed: {name} ({workers} process(es))...", file=sys.stderr)
        frames, seconds = timed_collect(args, workers, episodes, shard_episodes)
        runs[name] = {
            "workers": workers,
            "frames": frames,
            "seconds": round(seconds, 3),
            "frames_per_s": round(frames / seconds, 1),
        }
    speedup = runs["all_workers"]["frames_per_s"] / runs["one_worker"]["frames_per_s"]
    result = {
        "benchmark": "collect_speed",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_commit(),
        "settings": {
            "env": args.env,
            "overrides": args.overrides,
            "image_size": args.image_size,
            "action_repeat": args.action_repeat,
            "episode_length": args.episode_length,
            "episodes": episodes,
            "shard_episodes": shard_episodes,
            "seed": args.seed,
        },
        **runs,
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": bool(speedup >= TARGET_SPEEDUP),
        "torch_imported": "torch" in sys.modules,
        "machine": {**before, "load_average_after": machine()["load_average"]},
    }
    text = json.dumps(result, indent=2) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return result


if __name__ == "__main__":
    main()
