"""Surprise benchmark: the fault suite of docs/protocol.md scored by a world model's surprise.

    python -m benchmarks.surprise checkpoint=PATH [--world NAME] [--episodes 200]
                                  [--faults push teleport ...] [--horizons 1 [K ...]]
                                  [--seed 0] [--device auto]
    python -m benchmarks.surprise checkpoint=PATH --episode FILE.npz [--out PNG]

The first form plays, in the checkpoint's world, N normal episodes and N episodes of every fault
(``worldmodel.faults``: 100 decisions of the collection policy, one fault from a decision drawn in
[20, 80]), scores each by its peak surprise (``WorldModel.surprise``) from the fault's decision to
the end (a normal episode from its own drawn decision), and reports per fault the ROC-AUC of
faulty against normal scores and the detection delay in decisions at the threshold that raises a
false alarm on 5% of normal episodes. One set of N normal episodes serves every fault. Writes
``benchmarks/results/surprise.json`` and ``surprise.png`` (mean surprise around the fault's
decision); N below the protocol's 200 is flagged ``"smoke": true``. Each physical fault's row also
says how big the fault was (``shift_*``: how far it moved the world's joints by the first frame that
shows it, against the normal episode of the same seed), beside how far the world moves in one normal
decision (``settings.step_motion``): a fault smaller than a normal decision's motion is hard for
any one-step prediction to notice.

``--horizons 1 5`` scores the same episodes again with the surprise over 5 decisions open loop
(``WorldModel.surprise(..., horizon=5)``: the prediction from the history 4 decisions back,
through the true actions, which adds up a changed dynamics' drift, such as a heavier body's,
where one step sees a fraction of it).
The first horizon's rows are ``faults`` (1, the one-step surprise, unless told otherwise); every
horizon's are under ``by_horizon``.

The second form scores one recorded episode, an ``.npz`` with ``frames`` (or ``obs``) uint8
[T+1, H, W, 3], ``actions`` [T, A] and optionally ``fault_step``, and plots its surprise over time.
To record one: ``ep = worldmodel.faults.play_episode(env, seed, "push")`` then
``np.savez(path, frames=ep.frames, actions=ep.actions, fault_step=ep.fault_step)``.

Seeds: normal episode i has seed ``seed + i``; episode i of fault number f of
``worldmodel.faults.FAULTS`` (push is 0) has ``seed + 100000 * (f + 1) + i``, so a subset of faults
plays the same episodes. The push's velocity spread is the per-dof standard deviation over 20
normal episodes of seeds 10**6 .. 10**6 + 19 (``worldmodel.faults.estimate_velocity_std``), recorded
in the JSON.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import machine, write_json
from worldmodel.runtime.errors import InputError

PROTOCOL_EPISODES = 200
FALSE_ALARM_RATE = 0.05
SEED_STRIDE = 100_000
WINDOW = (-10, 20)
"""Decisions around the fault's decision shown in surprise.png."""
PLOTS_HINT = 'pip install "worldmodel[plots]"'


# ---- scores -----------------------------------------------------------------------------------


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting one half (the Mann-Whitney AUC)."""
    pos = np.asarray(positive, np.float64)[:, None]  # [P, 1]
    neg = np.asarray(negative, np.float64)[None, :]  # [1, N]
    if pos.size == 0 or neg.size == 0:
        raise InputError("ROC-AUC needs at least one faulty and one normal score")
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Standard error of a ROC-AUC from its value and the two sample sizes (Hanley and McNeil
    1982, exponential approximation): about 0.011 for 0.95 on 200 + 200 episodes."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return float(math.sqrt(max(var, 0.0)))


def alarm_threshold(normal: np.ndarray, rate: float = FALSE_ALARM_RATE) -> float:
    """The lowest threshold that at most ``rate`` of ``normal`` scores exceed (strictly): the
    ``ceil((1 - rate) n)``-th smallest score."""
    scores = np.sort(np.asarray(normal, np.float64))
    n = scores.size
    keep = math.ceil(round((1 - rate) * n, 9))  # rounded first: 0.95 * 200 is 190.00000000000003
    return float(scores[max(keep, 1) - 1])


def episode_scores(surprise: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Peak surprise of each episode from its decision on: ``[N, T]`` (per decision, NaN where
    undefined), steps ``[N]`` -> ``[N]``."""
    return np.array([np.nanmax(s[k:]) for s, k in zip(surprise, steps, strict=True)])


def detection_delays(surprise: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
    """Decisions from each episode's fault decision to its first surprise above ``threshold``:
    ``[N, T]``, ``[N]`` -> ``[N]`` float, NaN where it never rises above."""
    delays = np.full(len(steps), np.nan)
    for i, (s, k) in enumerate(zip(surprise, steps, strict=True)):
        above = np.flatnonzero(np.nan_to_num(s[k:], nan=-np.inf) > threshold)
        if above.size:
            delays[i] = above[0]
    return delays


def fault_row(
    faulty: np.ndarray,
    faulty_steps: np.ndarray,
    normal: np.ndarray,
    normal_steps: np.ndarray,
    shifts: np.ndarray | None = None,
    step_median: float | None = None,
) -> dict[str, Any]:
    """The result of one fault from per-decision surprise ``[N, T]`` and fault decisions ``[N]``;
    with each episode's ``shifts [N]`` and a normal decision's median motion, also the fault's
    size beside its detection (:func:`size_row`) and every episode's score and shift."""
    pos, neg = episode_scores(faulty, faulty_steps), episode_scores(normal, normal_steps)
    threshold = alarm_threshold(neg)
    delays = detection_delays(faulty, faulty_steps, threshold)
    found = delays[~np.isnan(delays)]
    auc = roc_auc(pos, neg)
    sized: dict[str, Any] = {}
    if shifts is not None and step_median is not None:
        sized = size_row(shifts, ~np.isnan(delays), step_median)
        sized["per_episode"] = {"score": pos.tolist(), "shift": shifts.tolist()}
    return {
        **sized,
        "auc": auc,
        "auc_se": auc_standard_error(auc, len(pos), len(neg)),
        "delay_steps": float(np.median(found)) if found.size else None,
        "delay_mean": float(found.mean()) if found.size else None,
        "detected": float(found.size / len(delays)),
        "false_alarms": float(np.mean(neg > threshold)),
        "threshold": threshold,
        "score_faulty_median": float(np.median(pos)),
        "score_normal_median": float(np.median(neg)),
        "episodes": len(pos),
    }


# ---- episodes ---------------------------------------------------------------------------------


def surprise_episodes(
    model: Any,
    env: Any,
    seeds: list[int],
    fault: str | None,
    *,
    velocity_std: np.ndarray | None,
    persistence: int,
    horizons: tuple[int, ...] = (1,),
    bar: Any = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Play the seeded episodes (normal, or with ``fault``) and score them at each horizon:
    ``{horizon: (per-decision surprise [N, T] (NaN for the first history + horizon - 2
    decisions), fault decisions [N])}``."""
    from worldmodel.faults import play_episode
    from worldmodel.surprise import by_decision

    rows: dict[int, list[np.ndarray]] = {k: [] for k in horizons}
    steps = []
    for seed in seeds:
        ep = play_episode(env, seed, fault, velocity_std=velocity_std, persistence=persistence)
        for k in horizons:
            s = model.surprise(ep.frames, ep.actions, horizon=k)
            rows[k].append(by_decision(s, model.history, k))  # [T]
        steps.append(ep.fault_step)
        if bar is not None:
            bar.update(1)
    return {k: (np.stack(r), np.array(steps)) for k, r in rows.items()}


def fault_sizes(
    env: Any, seeds: dict[str, list[int]], *, velocity_std: np.ndarray, persistence: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """How big each physical fault is, in the world's own units, and how much the world moves in
    one normal decision (every episode played again blind, so no frame is rendered).

    ``seeds``: ``{"normal": [...], fault: [...]}`` as scored. Returns the normal episodes' motion
    per decision (``worldmodel.faults.step_motion``, pooled, ``[N * T]``) and, per physical fault,
    each episode's shift (``worldmodel.faults.fault_shift``, ``[N]``). The colour fault (no
    physics) is left out.
    """
    from worldmodel.faults import fault_shift, play_episode, step_motion
    from worldmodel.runtime.progress import progress

    physical = [name for name in seeds if name not in ("normal", "colour")]
    kw: dict[str, Any] = {"velocity_std": velocity_std, "persistence": persistence}
    shifts: dict[str, np.ndarray] = {}
    blind, env.blind = env.blind, True
    try:
        with progress(total=sum(len(seeds[n]) for n in ["normal", *physical]), desc="sizes") as bar:
            motion = []
            for s in seeds["normal"]:
                motion.append(step_motion(env, play_episode(env, s, **kw)))  # [T]
                bar.update(1)
            for name in physical:
                shifts[name] = np.array([fault_shift(env, s, name, **kw) for s in seeds[name]])
                bar.update(len(seeds[name]))
    finally:
        env.blind = blind
    return np.concatenate(motion), shifts


def size_row(shifts: np.ndarray, detected: np.ndarray, step_median: float) -> dict[str, Any]:
    """A fault's size next to its detection: ``shifts [N]`` (``fault_shift``), ``detected [N]``
    (bool, at the 5% false-alarm threshold) and the median motion of a normal decision."""
    small = shifts < step_median

    def share(mask: np.ndarray) -> float | None:
        return float(detected[mask].mean()) if mask.any() else None

    return {
        "shift_median": float(np.median(shifts)),
        "shift_p10": float(np.percentile(shifts, 10)),
        "shift_below_step_median": float(small.mean()),
        "detected_below_step_median": share(small),
        "detected_above_step_median": share(~small),
    }


def run_suite(
    checkpoint: str,
    *,
    episodes: int = PROTOCOL_EPISODES,
    faults: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    world: str | None = None,
    horizons: list[int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The benchmark's JSON payload, and the curves for the plot at the first horizon
    (``{name: (surprise [N, T], steps [N])}`` with ``"normal"`` among them)."""
    import envs
    from envs.tasks import PROTOCOL_VERSION
    from worldmodel.api import load
    from worldmodel.faults import FAULTS, estimate_velocity_std
    from worldmodel.runtime.progress import progress

    faults = list(faults or FAULTS)
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise InputError(f"unknown fault(s) {unknown}; choose from {list(FAULTS)}")
    if episodes < 2:
        raise InputError(f"--episodes must be at least 2, got {episodes}")
    horizons = list(dict.fromkeys(horizons or [1]))
    if any(k < 1 for k in horizons):
        raise InputError(f"--horizons are numbers of decisions >= 1, got {horizons}")
    model = load(checkpoint, device=device)
    meta = model.info["env"]
    if world is not None and world != meta["name"]:
        raise InputError(
            f"{checkpoint} is a model of world {meta['name']!r}, not {world!r}: pass a checkpoint "
            f"trained on {world} (or leave out --world)"
        )
    data_cfg = model.info["config"].get("data", {})
    persistence = int(data_cfg.get("persistence", 4))
    env = envs.make(meta["name"], **meta["kwargs"])
    started = time.perf_counter()
    vel_std = estimate_velocity_std(env, persistence=persistence)  # [nv]
    seeds = {"normal": [seed + i for i in range(episodes)]}
    for name in faults:
        base = seed + SEED_STRIDE * (FAULTS.index(name) + 1)
        seeds[name] = [base + i for i in range(episodes)]
    scored: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    with progress(total=episodes * (len(faults) + 1), desc="episodes") as bar:
        for name, group in seeds.items():
            scored[name] = surprise_episodes(
                model,
                env,
                group,
                None if name == "normal" else name,
                velocity_std=vel_std,
                persistence=persistence,
                horizons=tuple(horizons),
                bar=bar,
            )
    motion, shifts = fault_sizes(env, seeds, velocity_std=vel_std, persistence=persistence)
    step_median = float(np.median(motion))
    env.close()
    by_horizon: dict[str, dict[str, Any]] = {}
    for k in horizons:
        normal_s, normal_k = scored["normal"][k]  # [N, T], [N]
        rows = {}
        for name in faults:
            faulty_s, faulty_k = scored[name][k]
            rows[name] = fault_row(
                faulty_s, faulty_k, normal_s, normal_k, shifts.get(name), step_median
            )
        by_horizon[str(k)] = rows
    curves = {name: per_horizon[horizons[0]] for name, per_horizon in scored.items()}
    normal_s, normal_k = curves["normal"]
    payload = {
        "world": meta.get("key", meta["name"]),
        "checkpoint": str(checkpoint),
        "episodes": episodes,
        "smoke": episodes < PROTOCOL_EPISODES,
        "protocol_version": PROTOCOL_VERSION,
        "faults": by_horizon[str(horizons[0])],
        "horizon": horizons[0],
        "by_horizon": by_horizon,
        "normal_scores": episode_scores(normal_s, normal_k).tolist(),
        "settings": {
            "decisions": int(normal_s.shape[1]),
            "policy": f"random, persistence {persistence} (the checkpoint's data.persistence)",
            "score": "peak surprise from the fault's decision to the end; normal episodes from "
            "a decision drawn the same way",
            "surprise": "mean over embedding dims of the squared error of the embedding "
            "predicted `horizon` decisions open loop (1: one step) from the true history and "
            "actions (WorldModel.surprise), not normalised",
            "false_alarm_rate": FALSE_ALARM_RATE,
            "velocity_std": [float(v) for v in vel_std],
            "velocity_std_from": "per-dof std of joint velocities over every state of 20 normal "
            "episodes (seeds 1000000..1000019)",
            "seed": seed,
            "normal_seeds": f"{seed}..{seed + episodes - 1}, one set for every fault",
            "shift": "each physical fault's shift: max |qpos| difference (hinge angles wrapped; "
            "rad for hinges, m for slides) between the first frame that shows it and the same "
            "frame of the normal episode of the same seed, played blind",
            "step_motion": {
                "median": step_median,
                "p95": float(np.percentile(motion, 95)),
            },
        },
        "model_step": model.info.get("step"),
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(model.device),
        "machine": machine(),
    }
    return payload, curves


# ---- plots ------------------------------------------------------------------------------------


def _figure(rows: int, cols: int, size: tuple[float, float]):
    """A matplotlib Figure on the Agg canvas, or an InputError with the install hint."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError(f"plots need matplotlib, which is not installed: {PLOTS_HINT}") from None
    fig = Figure(figsize=size, constrained_layout=True)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def around(surprise: np.ndarray, steps: np.ndarray, window=WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``[W]`` and surprise ``[N, W]`` aligned on each episode's fault decision (NaN
    outside the episode): entry o is the surprise of decision ``step + o``."""
    offsets = np.arange(window[0], window[1] + 1)
    out = np.full((len(steps), offsets.size), np.nan)
    for i, (s, k) in enumerate(zip(surprise, steps, strict=True)):
        idx = k + offsets
        ok = (idx >= 0) & (idx < s.size)
        out[i, ok] = s[idx[ok]]
    return offsets, out


def plot_suite(curves: dict[str, Any], payload: dict[str, Any], path: Path) -> Path:
    """surprise.png: per fault, mean surprise around the fault's decision (faulty and normal
    episodes, the interquartile band shaded) and the 5%-false-alarm threshold."""
    names = list(payload["faults"])
    cols = min(len(names), 3)
    rows = -(-len(names) // cols)
    fig, axes = _figure(rows, cols, (4.2 * cols, 3.2 * rows))
    offsets, normal = around(*curves["normal"])
    for ax, name in zip(axes.flat, names, strict=False):
        _, faulty = around(*curves[name])
        for label, values, colour in (("normal", normal, "tab:blue"), (name, faulty, "tab:red")):
            ax.plot(offsets, np.nanmean(values, 0), color=colour, label=label)
            lo, hi = np.nanpercentile(values, [25, 75], axis=0)
            ax.fill_between(offsets, lo, hi, color=colour, alpha=0.2, linewidth=0)
        row = payload["faults"][name]
        ax.axhline(row["threshold"], color="k", linestyle=":", linewidth=1, label="5% false alarms")
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{name}: AUC {row['auc']:.2f}, delay {_fmt(row['delay_steps'])}", fontsize=9)
        ax.set_xlabel("decisions from the fault", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    smoke = " (smoke)" if payload["smoke"] else ""
    fig.suptitle(
        f"surprise around the fault, {payload['world']}, {payload['episodes']} episodes each{smoke}",
        fontsize=10,
    )
    return _save(fig, path)


def plot_episode(surprise: np.ndarray, path: Path, fault_step: int | None = None) -> Path:
    """Surprise over the decisions of one episode (``[T]``, NaN where undefined)."""
    fig, axes = _figure(1, 1, (6.0, 3.0))
    ax = axes[0, 0]
    ax.plot(np.arange(surprise.size), surprise, color="tab:red")
    if fault_step is not None:
        ax.axvline(fault_step, color="grey", linestyle="--", label=f"fault (decision {fault_step})")
        ax.legend(fontsize=8)
    ax.set_xlabel("decision")
    ax.set_ylabel("surprise")
    ax.set_yscale("log")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    from worldmodel.runtime.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    print(f"wrote {path}")
    return path


def _fmt(x: float | None) -> str:
    return "never" if x is None else f"{x:g}"


# ---- command ----------------------------------------------------------------------------------


def score_episode(checkpoint: str, episode: str, out: str | None, device: str) -> Path:
    """Score one recorded episode (.npz) and plot its surprise over time."""
    from worldmodel.api import load
    from worldmodel.surprise import by_decision

    try:
        data = np.load(episode)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read episode {episode}: {e}") from None
    key = "frames" if "frames" in data else "obs"
    if key not in data or "actions" not in data:
        raise InputError(
            f"{episode} holds {sorted(data.files)}; an episode needs 'frames' (or 'obs') "
            f"[T+1, H, W, 3] and 'actions' [T, A]"
        )
    model = load(checkpoint, device=device)
    s = by_decision(model.surprise(data[key], data["actions"]), model.history)  # [T]
    step = int(data["fault_step"]) if "fault_step" in data else None
    peak = int(np.nanargmax(s))
    print(f"{episode}: {s.size} decisions, peak surprise {s[peak]:.4g} at decision {peak}")
    path = Path(out) if out else Path(episode).with_name(Path(episode).stem + "_surprise.png")
    return plot_episode(s, path, step)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="*", help="checkpoint=PATH (a checkpoint or run folder)")
    parser.add_argument("--checkpoint", help="the same as checkpoint=PATH")
    parser.add_argument("--world", help="refuse a checkpoint of another world")
    parser.add_argument("--episodes", type=int, default=PROTOCOL_EPISODES)
    parser.add_argument("--faults", nargs="+", default=None, help="a subset of the fault suite")
    parser.add_argument(
        "--horizons",
        nargs="+",
        type=int,
        default=[1],
        help="surprise horizons in decisions (1: one step, the reference); the first fills "
        "'faults' and the plot, every one 'by_horizon'",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--episode", help="score this recorded episode (.npz) instead")
    parser.add_argument(
        "--out", help="output: the JSON path (suite; the PNG beside it) or the PNG (--episode)"
    )
    args = parser.parse_args(argv)
    try:
        checkpoint = args.checkpoint
        for item in args.settings:
            key, sep, value = item.partition("=")
            if key != "checkpoint" or not sep:
                raise InputError(f"cannot read {item!r}: the only setting is checkpoint=PATH")
            checkpoint = value
        if not checkpoint:
            raise InputError("give the model: checkpoint=PATH")
        if args.episode:
            score_episode(checkpoint, args.episode, args.out, args.device)
            return
        payload, curves = run_suite(
            checkpoint,
            episodes=args.episodes,
            faults=args.faults,
            seed=args.seed,
            device=args.device,
            world=args.world,
            horizons=args.horizons,
        )
        json_path = write_json("surprise.json", payload, args.out)
        plot_suite(curves, payload, json_path.with_suffix(".png"))
    except (InputError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    for k, rows in payload["by_horizon"].items():
        for name, row in rows.items():
            print(
                f"{name:14s} horizon {k:>2s}  AUC {row['auc']:.3f}  "
                f"delay {_fmt(row['delay_steps'])}  detected {100 * row['detected']:.0f}%"
            )


if __name__ == "__main__":
    main()
