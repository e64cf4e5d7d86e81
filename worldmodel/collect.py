"""``python -m worldmodel.collect env=reacher``: collect an offline episode data set.

Shards of ``data.shard_episodes`` episodes are collected by ``data.workers`` processes (one per
core by default), each written atomically; rerunning the same command resumes an interrupted
collection and reuses a finished one.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldmodel import data as D
from worldmodel.config import (
    CollectConfig,
    Config,
    DataConfig,
    EnvConfig,
    env_key,
    env_kwargs,
    world_data,
)
from worldmodel.runtime.errors import InputError, Interrupted
from worldmodel.runtime.paths import cache_dir
from worldmodel.runtime.progress import progress

USAGE = """usage: python -m worldmodel.collect [key=value ...]
Collect an offline data set of pixel episodes, e.g.
  python -m worldmodel.collect env=reacher
  python -m worldmodel.collect env=dmc env.domain=cartpole env.task=swingup data.episodes=50
  python -m worldmodel.collect preset=debug data.dir=/tmp/data"""

HINTS = {
    "run_dir": "the data set goes to data.dir= (default: a folder under $WORLDMODEL_CACHE)",
    "device": "collection runs on the CPU cores (data.workers=)",
    "model": "model settings belong to python -m worldmodel.train",
    "train": "training settings belong to python -m worldmodel.train",
    "resume": "rerunning the same command resumes an interrupted collection",
}
"""What to use instead of the settings other commands have."""

# Manifest fields that record a collection's progress, not its settings: every other field is
# the data set's identity (dataset_identity), which a folder must match to be reused.
PROGRESS_FIELDS = frozenset(
    {"format", "format_version", "created", "shards", "complete", "num_shards", "frames"}
    | {"seconds", "state_dim", "action_dim"}
)


def dataset_identity(env: EnvConfig, data: DataConfig, seed: int) -> dict[str, Any]:
    """The settings a data set is collected with, as recorded in its manifest."""
    from envs import world_revision
    from envs.tasks import PROTOCOL_VERSION

    data = world_data(env, data)
    policy: dict[str, Any] = {"name": data.policy}
    if data.policy == "random":
        policy["persistence"] = data.persistence
    revision = world_revision(env.name, env.domain)
    # revision 1 stays out of the identity, so that data of unchanged worlds keeps its name
    extra: dict[str, Any] = {"world_revision": revision} if revision > 1 else {}
    for name in ("hindsight", "marker_jitter"):  # likewise: data sets without them keep names
        if getattr(data, name) > 0:
            extra[name] = getattr(data, name)
    return {
        **extra,
        "env": asdict(env),
        "policy": policy,
        "seed": seed,
        "episodes": data.episodes,
        "episode_length": data.episode_length,
        "shard_episodes": data.shard_episodes,
        "image_size": env.image_size,
        "action_repeat": env.action_repeat,
        "protocol_version": PROTOCOL_VERSION,
    }


def episode_seed(data: DataConfig, seed: int) -> int:
    """The seed a data set's episodes are drawn with: data.seed, else the run's seed."""
    return seed if data.seed is None else data.seed


def default_data_dir(env: EnvConfig, data: DataConfig, seed: int) -> Path:
    """Where a data set with these settings is cached, so that train finds what collect made."""
    data = world_data(env, data)  # the name shows the episodes the world's recipe chose
    ident = dataset_identity(env, data, seed)
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:8]
    name = f"{env_key(env)}-{env.image_size}px-{data.episodes}x{data.episode_length}-seed{seed}-{digest}"
    return cache_dir() / "data" / name


@dataclass
class ShardJob:
    root: str
    index: int
    episodes: int
    env: EnvConfig
    data: DataConfig
    seed: int


def collect_shard(job: ShardJob) -> dict[str, Any]:
    """Collect and write one shard (runs in a worker process); returns its manifest entry."""
    from envs import make  # importing envs sets MUJOCO_GL before mujoco loads
    from worldmodel.policies import make_policy

    rng = np.random.default_rng(np.random.SeedSequence([job.seed, job.index]))
    env = make(job.env.name, **env_kwargs(job.env))
    env.action_space.seed(int(rng.integers(2**31)))
    policy = make_policy(job.data.policy, env.action_space, rng, job.data.persistence)
    t_len = job.data.episode_length
    obs = np.empty((job.episodes, t_len + 1, *env.observation_space.shape), np.uint8)
    actions = np.empty((job.episodes, t_len, *env.action_space.shape), np.float32)
    states, rewards = [], np.empty((job.episodes, t_len), np.float32)
    for e in range(job.episodes):
        frame, info = env.reset(seed=int(rng.integers(2**31)))
        policy.reset()
        ep_states = [info["state"]]
        obs[e, 0] = frame
        for t in range(t_len):
            action = np.asarray(policy(frame, info), np.float32)
            frame, reward, _, _, info = env.step(action)
            obs[e, t + 1], actions[e, t], rewards[e, t] = frame, action, reward
            ep_states.append(info["state"])
        episode = np.stack(ep_states)  # [T+1, S]
        hindsight, jitter = job.data.hindsight, job.data.marker_jitter or 0.0  # resolved
        if hindsight > 0 or jitter > 0:
            draw = rng.random()  # one draw picks hindsight, jitter or neither: disjoint shares
            moved = None  # the episode's states with the marker moved (checked in _check_env)
            if draw < hindsight:
                moved = env.mark_goal(episode, int(rng.integers(t_len + 1)))
            elif draw < hindsight + jitter:
                moved = env.jitter_marker(episode, rng)
            if moved is not None:
                episode = _redraw(env, moved, obs[e])
        states.append(episode)
    env.close()
    arrays: dict[str, np.ndarray] = {
        "obs": obs,
        "actions": actions,
        "states": np.stack(states),
        "rewards": rewards,
    }
    entry = D.write_shard(Path(job.root), job.index, arrays)
    entry["state_dim"] = int(arrays["states"].shape[-1])
    entry["action_dim"] = int(actions.shape[-1])
    return entry


def _redraw(env: Any, states: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``frames`` [T+1, H, W, 3] re-rendered in place from ``states`` [T+1, S] (an episode whose
    goal marker was moved); returns ``states``."""
    for t, state in enumerate(states):
        frames[t] = env.render_state(state)
    return states


def collect(cfg: CollectConfig | Config) -> Path:
    """Collect (or resume, or reuse) the data set ``cfg`` describes; returns its folder."""
    env, data = cfg.env, world_data(cfg.env, cfg.data)
    assert data.episodes is not None  # world_data fills in the world's size
    if data.episodes < 1 or data.episode_length < 1 or data.shard_episodes < 1:
        raise InputError(
            "data.episodes, data.episode_length and data.shard_episodes must all be >= 1 "
            f"(got {data.episodes}, {data.episode_length}, {data.shard_episodes})"
        )
    if data.workers < 0:
        raise InputError(f"data.workers must be >= 0 (0 = one per CPU core), got {data.workers}")
    seed = episode_seed(data, cfg.seed)
    root = Path(data.dir) if data.dir else default_data_dir(env, data, seed)
    ident = dataset_identity(env, data, seed)
    manifest = D.read_manifest(root)
    if manifest is not None:
        for key, value in ident.items():
            if manifest.get(key) != value:
                raise D.DatasetError(
                    f"{root}/manifest.json: this data set was collected with {key}="
                    f"{manifest.get(key)!r}, not {value!r}; choose another data.dir or delete {root}"
                )
        if _drop_damaged(root, manifest):
            manifest["complete"] = False
        if manifest["complete"]:
            print(f"data set ready (reused): {root}  [{manifest['frames']} frames]")
            return root
    _check_env(env, data)
    _check_policy(data)
    root.mkdir(parents=True, exist_ok=True)  # after the checks: bad settings leave no folder
    num_shards = -(-data.episodes // data.shard_episodes)
    sizes = [
        min(data.shard_episodes, data.episodes - i * data.shard_episodes) for i in range(num_shards)
    ]
    if manifest is None:
        manifest = D.new_manifest(**ident, num_shards=num_shards, frames=0, seconds=0.0)
    D.clean_partial(root)
    done = {s["name"] for s in manifest["shards"]}
    if data.dir is None and not done:
        _reuse_shards(root, manifest, done, ident, sizes)
    _adopt_orphans(root, manifest, done, sizes, data.episode_length, env.image_size)
    jobs = [
        ShardJob(str(root), i, sizes[i], env, data, seed)
        for i in range(num_shards)
        if D.shard_name(i) not in done
    ]
    frames_per_ep = data.episode_length + 1
    workers = min(data.workers or os.cpu_count() or 1, len(jobs)) or 1
    already = sum(s["episodes"] for s in manifest["shards"]) * frames_per_ep
    if already:
        print(f"resuming collection in {root}: {len(done)} of {num_shards} shards done")
    bar = progress(
        total=data.episodes * frames_per_ep,
        initial=already,
        unit="frame",
        desc="collect",
        enabled=cfg.progress,
    )
    start = time.perf_counter()

    def record(entry: dict[str, Any]) -> None:
        manifest["shards"].append(entry)
        manifest["shards"].sort(key=lambda s: s["name"])
        manifest["frames"] = sum(s["episodes"] for s in manifest["shards"]) * frames_per_ep
        manifest["state_dim"], manifest["action_dim"] = entry["state_dim"], entry["action_dim"]
        D.write_manifest(root, manifest)
        bar.update(entry["episodes"] * frames_per_ep)

    try:
        _run_jobs(jobs, workers, record)
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(
            f"{len(manifest['shards'])} of {num_shards} shards are kept in {root}; "
            "rerun the same command to resume"
        ) from None
    bar.close()
    elapsed = time.perf_counter() - start
    new_frames = len(jobs) and sum(j.episodes for j in jobs) * frames_per_ep
    manifest["seconds"] = manifest.get("seconds", 0.0) + elapsed
    manifest["frames"] = sum(s["episodes"] for s in manifest["shards"]) * frames_per_ep
    for key in ("state_dim", "action_dim"):  # also when every shard was adopted
        manifest[key] = manifest["shards"][0][key]
    manifest["complete"] = True
    D.write_manifest(root, manifest)
    rate = new_frames / elapsed if elapsed > 0 else float("nan")
    print(
        f"data set ready: {root}  [{manifest['frames']} frames; {rate:.0f} frames/s with {workers} worker(s)]"
    )
    return root


def _run_jobs(jobs: list[ShardJob], workers: int, record: Callable[[dict], None]) -> None:
    """Collect the shards, in this process or in ``workers`` spawned ones, recording each."""
    if workers == 1:
        for job in jobs:
            record(collect_shard(job))
        return
    ctx = mp.get_context("spawn")  # fresh GL contexts per worker; fork would share them
    # Workers ignore Ctrl-C and SIGTERM: this process handles them (one line), cancels the
    # pending shards and waits for those under way, so no worker outlives it.
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_interrupts) as pool:
        futures = [pool.submit(collect_shard, j) for j in jobs]
        try:
            for future in as_completed(futures):
                record(future.result())
        except BaseException:
            for future in futures:  # do not collect every other shard before failing
                future.cancel()  # (the shards under way finish; a rerun adopts them)
            raise


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _drop_damaged(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Drop from ``manifest`` the shards whose files are missing or of the wrong size (e.g. a
    corrupt shard folder deleted by hand), so that they are collected again; returns their names."""
    dropped = []
    for entry in list(manifest["shards"]):
        for name, meta in entry["files"].items():
            path = root / entry["name"] / name
            if not path.is_file() or path.stat().st_size != meta["bytes"]:
                manifest["shards"].remove(entry)
                dropped.append(entry["name"])
                break
    if dropped:
        print(f"{root}: {', '.join(dropped)} missing or damaged; collecting again")
    return dropped


def _reuse_shards(
    root: Path, manifest: dict[str, Any], done: set[str], ident: dict[str, Any], sizes: list[int]
) -> None:
    """Link into ``root`` the shards of the cached data set beside it that differs from this one
    in its number of episodes only (a data set grown or shrunk with ``data.episodes=``), and list
    them in ``manifest`` and ``done``.

    Shard i is drawn from the seed and i alone (:func:`collect_shard`), so shard i of a data set
    with the same settings is this one's shard i when it holds as many episodes. Each file is
    checked against its manifest's checksum before it is hard-linked (copied where links fail)."""
    same = {k: v for k, v in ident.items() if k != "episodes"}
    wanted = {D.shard_name(i): n for i, n in enumerate(sizes)}
    best: tuple[Path, list[dict[str, Any]]] | None = None
    for other in sorted(root.parent.iterdir()):
        if other == root or not other.is_dir():
            continue
        try:
            theirs = D.read_manifest(other)
        except D.DatasetError:
            continue  # a damaged neighbour is its own problem
        if theirs is None or theirs.get("format_version") != D.FORMAT_VERSION:
            continue
        settings = {k: v for k, v in theirs.items() if k not in PROGRESS_FIELDS}
        settings.pop("episodes", None)
        if settings != same:
            continue
        usable = [e for e in theirs["shards"] if wanted.get(e["name"]) == e["episodes"]]
        if usable and (best is None or len(usable) > len(best[1])):
            best = (other, usable)
    if best is None:
        return
    source, entries = best
    for entry in entries:
        tmp = root / f".{entry['name']}.reuse.tmp"  # removed by D.clean_partial if we stop here
        try:
            tmp.mkdir()
            for name, meta in entry["files"].items():
                src = source / entry["name"] / name
                if D.sha256(src) != meta["sha256"]:
                    raise OSError(f"{src}: checksum differs from its manifest")
                try:
                    os.link(src, tmp / name)
                except OSError:
                    shutil.copy2(src, tmp / name)
            os.replace(tmp, root / entry["name"])
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # this shard is collected again instead
            continue
        manifest["shards"].append(entry)  # checked above: no need to hash it again as an orphan
        done.add(entry["name"])
    if done:
        print(f"reusing {len(done)} shards of {source} (the same settings, other data.episodes)")


def _adopt_orphans(
    root: Path,
    manifest: dict[str, Any],
    done: set[str],
    sizes: list[int],
    episode_length: int,
    image_size: int,
) -> None:
    """Shards renamed into place just before an interruption, but not yet in the manifest.

    Only a folder named after a shard of this collection whose arrays have this collection's
    shapes (``sizes[i]`` episodes for shard i) is adopted; any other is collected again."""
    expected = {D.shard_name(i): n for i, n in enumerate(sizes)}
    for folder in sorted(root.glob("shard_*")):
        if folder.name in done or folder.name not in expected or not folder.is_dir():
            continue
        try:
            arrays = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in D.ARRAYS}
            actions, states = arrays["actions"], arrays["states"]
            e, t = expected[folder.name], episode_length
            shapes = {
                "obs": (e, t + 1, image_size, image_size, 3),
                "actions": (e, t),
                "states": (e, t + 1),
                "rewards": (e, t),
            }
            if any(arrays[k].shape[: len(v)] != v for k, v in shapes.items()):
                continue
            files = {}
            for key in D.ARRAYS:
                path = folder / f"{key}.npy"
                files[path.name] = {"bytes": path.stat().st_size, "sha256": D.sha256(path)}
        except (OSError, ValueError):
            continue  # unreadable: it will be collected again and replaced
        manifest["shards"].append(
            {
                "name": folder.name,
                "episodes": int(actions.shape[0]),
                "files": files,
                "state_dim": int(states.shape[-1]),
                "action_dim": int(actions.shape[-1]),
            }
        )
        done.add(folder.name)


def _check_env(env: EnvConfig, data: DataConfig) -> None:
    """Fail fast, in this process, on an unknown world, bad world settings, or a hindsight or
    marker-jitter share for a world without a visible goal marker."""
    import envs

    if env.name not in envs.WORLDS:
        raise InputError(f"unknown env {env.name!r}; choose one of: {', '.join(envs.WORLDS)}")
    world = envs.make(env.name, **env_kwargs(env))
    try:
        states = np.stack([world.get_sim_state()] * 2)
        rng = np.random.default_rng(0)
        if data.hindsight > 0 and world.mark_goal(states, 0) is None:
            raise InputError(
                f"data.hindsight={data.hindsight}: env {env_key(env)!r} draws no goal marker to "
                "move (point_mass and reacher with env.draw_target=true do); drop data.hindsight"
            )
        if (data.marker_jitter or 0.0) > 0 and world.jitter_marker(states, rng) is None:
            raise InputError(
                f"data.marker_jitter={data.marker_jitter}: env {env_key(env)!r} draws no marker "
                "to redraw (point_mass, reacher with env.draw_target=true and dm_control tasks "
                "with a visible target, such as env=dmc env.domain=reacher, do); drop "
                "data.marker_jitter"
            )
    finally:
        world.close()


def _check_policy(data: DataConfig) -> None:
    """Fail fast, in this process, on a malformed or unimportable ``data.policy``."""
    from worldmodel.policies import load_factory

    if load_factory(data.policy) is None and data.persistence < 1:
        raise InputError(f"data.persistence must be >= 1, got {data.persistence}")


def main(argv: list[str] | None = None) -> Path:
    from worldmodel.runtime.cli import run_command

    return run_command(
        collect, argv, schema=CollectConfig, usage=USAGE, name="worldmodel.collect", hints=HINTS
    )  # shards seed themselves from (seed, index)


if __name__ == "__main__":
    main(sys.argv[1:])
