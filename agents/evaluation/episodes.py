"""Playing docs/protocol.md episodes with any :class:`Policy` (``reset_batch`` / ``act_batch``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.progress import progress as progress_bar


class Policy(Protocol):
    """What ``play`` needs from a policy: the agent, the baselines and the oracle all have it."""

    uses_frames: bool
    """False if it never looks at the frames (``play`` then skips rendering them)."""
    last_plan_ms: float
    """Wall time of the last decision's plan; 0 when it planned nothing (not counted)."""
    last_rollout_calls: int
    """Rollout calls of the last decision's plan."""
    last_transitions: int
    """Latent (or simulated) transitions of the last decision's plan."""

    def reset_batch(self, goal_images: np.ndarray) -> None:
        """Start E episodes toward ``goal_images [E, H, W, 3]`` (uint8)."""
        ...

    def act_batch(self, frames: np.ndarray) -> np.ndarray:
        """Actions ``[E, A]`` (float32, in [-1, 1]) for the current frames ``[E, H, W, 3]``."""
        ...


@dataclass
class EpisodeResult:
    success: bool
    final_distance: float
    env_steps: int
    """Env steps until success (early end) or the budget."""
    ret: float
    """Sum of the task's own reward."""
    start_distance: float = float("nan")
    """The task's goal distance at the start (its success test's distance, before any action)."""
    missed: tuple[str, ...] | None = None
    """The coordinates whose final gap to the goal is not under the success threshold, where
    the world's test is the largest gap (``GoalEnv.goal_gaps``); None in other worlds."""


@dataclass
class RunStats:
    episodes: list[EpisodeResult] = field(default_factory=list)
    plan_ms: list[float] = field(default_factory=list)
    rollout_calls: list[int] = field(default_factory=list)
    transitions: int = 0
    videos: list[str] = field(default_factory=list)


def play(
    policy: Policy,
    envs: list,
    episodes: list,
    task,
    *,
    desc: str,
    videos: int = 0,
    video_dir: Path | None = None,
    video_scale: int = 4,
    progress: bool = True,
) -> RunStats:
    """Play ``episodes`` in chunks of ``len(envs)`` parallel episodes; one policy call per decision.

    The budget is counted in env steps (physics control steps): ceil(budget / action_repeat)
    decisions. Success tasks end an episode at the first decision after which the success test
    holds (``early_end``); the per-episode env-step count is then the steps taken so far.
    A policy with ``uses_frames = False`` (the baselines) plays with the frames not rendered
    (``GoalEnv.blind``) unless videos are asked for: the same episodes, at the cost of physics only.
    """
    blind = not policy.uses_frames and videos == 0
    for env in envs:
        env.unwrapped.blind = blind
    try:
        return _play(policy, envs, episodes, task, desc, videos, video_dir, video_scale, progress)
    finally:
        for env in envs:
            env.unwrapped.blind = False


def _play(
    policy: Policy, envs, episodes, task, desc, videos, video_dir, video_scale, progress
) -> RunStats:
    stats = RunStats()
    repeat = envs[0].unwrapped.action_repeat
    decisions = math.ceil(task.budget / repeat)
    bar = progress_bar(
        total=len(episodes),
        desc=desc,
        unit="ep",
        enabled=progress,
        leave=False,
    )
    for lo in range(0, len(episodes), len(envs)):
        chunk = episodes[lo : lo + len(envs)]
        active_envs = envs[: len(chunk)]
        frames, goals, infos = [], [], []
        for env, ep in zip(active_envs, chunk):
            obs, info = env.reset(options={"start": ep.start, "goal": ep.goal})
            frames.append(obs)
            goals.append(info["goal"])
            infos.append(info)
        policy.reset_batch(np.stack(goals))
        n = len(chunk)
        done = np.zeros(n, bool)
        success = np.array([bool(i["success"]) for i in infos])
        dist = np.array([float(i["goal_distance"]) for i in infos])
        states = [i["state"] for i in infos]
        start_dist = dist.copy()
        steps = np.zeros(n, int)
        rets = np.zeros(n)
        record = [lo + i < videos for i in range(n)]
        movie = [
            [_video_frame(frames[i], goals[i], 0, dist[i], video_scale)] if record[i] else None
            for i in range(n)
        ]
        for _ in range(decisions):
            if done.all():
                break
            actions = policy.act_batch(np.stack(frames))  # [n, A]
            if policy.last_plan_ms > 0:
                stats.plan_ms.append(policy.last_plan_ms)
                stats.rollout_calls.append(policy.last_rollout_calls)
                stats.transitions += policy.last_transitions
            for i, env in enumerate(active_envs):
                if done[i]:
                    continue
                frames[i], reward, _, _, info = env.step(actions[i])
                rets[i] += reward
                steps[i] = info["env_steps"]
                dist[i], success[i] = info["goal_distance"], info["success"]
                states[i] = info["state"]
                if task.early_end and success[i]:
                    done[i] = True
                clip = movie[i]
                if clip is not None:
                    clip.append(_video_frame(frames[i], goals[i], steps[i], dist[i], video_scale))
        for i in range(n):
            stats.episodes.append(
                EpisodeResult(
                    bool(success[i]),
                    float(dist[i]),
                    int(steps[i]),
                    float(rets[i]),
                    float(start_dist[i]),
                    _missed(active_envs[i].unwrapped, states[i]),
                )
            )
            clip = movie[i]
            if clip is not None and video_dir is not None:
                stats.videos.append(
                    str(_write_video(video_dir / f"episode_{lo + i:03d}.mp4", clip))
                )
        bar.update(n)
    bar.close()
    return stats


def _missed(env, state: np.ndarray) -> tuple[str, ...] | None:
    """The coordinates of ``state [S]`` not within the success threshold of ``env``'s goal."""
    gaps = env.goal_gaps(state, env.goal_state)
    if gaps is None:
        return None
    return tuple(name for name, gap in gaps.items() if not gap < env.success_threshold)


def _video_frame(
    frame: np.ndarray, goal: np.ndarray, step: int, distance: float, scale: int
) -> np.ndarray:
    """[current | goal], upscaled, with a caption band: 'step N  d=...'."""
    from PIL import Image, ImageDraw

    pair = np.concatenate([frame, goal], axis=1).repeat(scale, 0).repeat(scale, 1)
    band = 16 * max(1, scale // 2)
    canvas = Image.new("RGB", (pair.shape[1], pair.shape[0] + band), (0, 0, 0))
    canvas.paste(Image.fromarray(pair), (0, band))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), f"step {step}  dist {distance:.3f}", fill=(255, 255, 255))
    draw.text((pair.shape[1] // 2 + 4, 2), "goal", fill=(255, 255, 0))
    out = np.asarray(canvas)
    h, w = out.shape[:2]  # codecs want sizes divisible by 16
    return np.pad(out, ((0, -h % 16), (0, -w % 16), (0, 0)))


def _write_video(path: Path, frames: list[np.ndarray], fps: int = 5) -> Path:
    import imageio.v2 as imageio

    with (
        atomic_path(path, keep_suffix=True) as tmp,
        imageio.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=16) as writer,
    ):
        for f in frames:
            # imageio's stubs type get_writer as its base reader-writer; the writer has append_data
            writer.append_data(f)  # type: ignore[attr-defined]
    return path


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(stats: RunStats, metric: str) -> dict:
    """The per-run fields of eval.json."""
    eps = stats.episodes
    n = len(eps)
    wins = sum(e.success for e in eps)
    steps_ok = [e.env_steps for e in eps if e.success]
    rets = np.array([e.ret for e in eps])
    # One row per episode, in the task's episode order: paired comparisons between runs
    # of the same task and seed, and which episodes fail (far goals, or near ones).
    per_episode: dict[str, list] = {
        "success": [bool(e.success) for e in eps],
        "start_distance": [round(e.start_distance, 5) for e in eps],
        "final_distance": [round(e.final_distance, 5) for e in eps],
        "env_steps": [e.env_steps for e in eps],
        **({"return": [round(e.ret, 3) for e in eps]} if metric == "return" else {}),
    }
    out: dict[str, Any] = {
        "episodes": n,
        "success_rate": wins / n if n else None,
        "success_ci95": list(wilson(wins, n)),
        "mean_final_distance": float(np.mean([e.final_distance for e in eps])) if n else None,
        "steps_to_success_mean": float(np.mean(steps_ok)) if steps_ok else None,
        "steps_to_success_median": float(np.median(steps_ok)) if steps_ok else None,
        "per_episode": per_episode,
    }
    if n and all(e.missed is not None for e in eps):
        # Which coordinates the episodes end off the goal on (a world whose test is every
        # coordinate's gap): share of all episodes missing each one, and missing only it.
        names = sorted({c for e in eps for c in e.missed or ()})
        out["misses_by_coordinate"] = {
            c: sum(c in (e.missed or ()) for e in eps) / n for c in names
        }
        out["sole_misses_by_coordinate"] = {
            c: sum(e.missed == (c,) for e in eps) / n for c in names
        }
        per_episode["missed"] = [list(e.missed or ()) for e in eps]
    if metric == "return":
        half = 1.96 * rets.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        out.update(
            mean_return=float(rets.mean()),
            return_ci95=[float(rets.mean() - half), float(rets.mean() + half)],
        )
    if stats.plan_ms:
        total_s = sum(stats.plan_ms) / 1e3
        out.update(
            plan_ms_median=float(np.median(stats.plan_ms)),
            plan_ms_p95=float(np.percentile(stats.plan_ms, 95)),
            transitions_per_s=stats.transitions / total_s if total_s > 0 else None,
            rollout_calls_per_decision=float(np.mean(stats.rollout_calls)),
            decisions_planned=len(stats.plan_ms),
        )
    return out
