"""What a world's frames can show of its state, measured without any model.

    python -m benchmarks.observability [env=point_mass] [env.domain=finger env.task=spin ...]
                                       [--episodes 30] [--joint 0] [--delta 0.0005] [--out PATH]
                                       [--period-step 0.05] [--period-max 4.0]
                                       [--checkpoint RUN]

A probe of the embedding can only read what the frames show. This measures, for one world
(the ``worldmodel.collect`` overrides that name it), on episodes of the data-collection policy:

- ``scales``: the controllable state's spread (standard deviation per column over all frames)
  and how far it moves in 1 and in 5 decisions (median norm of the change): what a 5-step
  rollout must beat, against what a position probe's error is;
- ``half_turns``: for each hinge joint, the share of states whose frame does not change (no
  pixel by more than 2 levels) when the joint turns by pi: a body that looks the same after a
  half turn shows its angle only modulo pi, so no model reads the angle's sine and cosine;
- ``slide_periods``: for each slide joint, the smallest shift (searched in steps of
  ``--period-step`` up to ``--period-max``) after which at least half of the sampled frames
  look the same, and the share that do: a camera that follows the body sees its position only
  through a repeating floor, so the position shows only modulo that period, except where the
  floor ends;
- ``sweep``: ``qpos[--joint]`` moved ``--steps`` times by ``--delta``; the largest change of
  any pixel between neighbouring frames (median and max over the steps): small and even
  means the frames move smoothly; rare large jumps mean a sub-pixel motion is invisible
  between them (point_mass's revision 1);
- ``modulo_r2``: the R^2 of the world's controllable state when what depends on a coordinate
  the frames show only modulo a period (a hinge found the same after a half turn in at least
  ``HIDDEN_SHARE`` of states: pi; a slide joint with a period) is guessed from that coordinate
  modulo its period alone, and everything else is read exactly (held-out episodes). What a
  model scores that codes everything the frames show, if nothing else in them tells the hidden
  part; a model above it reads the hidden part from other cues;
- ``render_ms``: median time to render one frame of a given state;
- ``shown_probe`` (with ``--checkpoint RUN``, a model of this world): the model's probe R^2
  (``worldmodel.probe``'s settings: 30 held-out episodes, probes fit on up to 300) of the
  feature ``shown``: qpos as the frames can tell it, each coordinate they show only modulo a
  period P (as ``modulo_r2`` finds them) as the sine and cosine of 2 pi q / P, each other hinge
  that can turn over as its sine and cosine, everything else as is (``angles`` with the hidden
  part folded). Where the world's own feature reads below 0.9, this says whether the model
  misses something the frames show or only what no frame shows. It is a view beside the
  protocol's probe target, never in place of it;
- ``without_supersampling``: for a world drawn supersampled (``GoalEnv.supersample``), the
  sweep and the render time again with one sample a pixel: what supersampling buys and costs.

Writes ``benchmarks/results/observability/<world>.json`` (or ``--out``) with the date,
commit and machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from benchmarks._common import RESULTS, machine, write_json
from benchmarks.world_levers import CONTROLLABLE
from worldmodel.config import CollectConfig, env_key, env_kwargs
from worldmodel.runtime.cli import load_config
from worldmodel.runtime.errors import InputError

SAME_LEVELS = 2
"""Frames whose pixels all differ by at most this many levels of 255 count as the same."""

PICKED = 20
"""States, evenly spaced over all episodes and steps, on which frames are compared."""

HIDDEN_SHARE = 0.9
"""A joint whose frame stays the same after a half turn (hinge) or a shift by its period
(slide) in at least this share of the sampled states counts as shown only modulo that period
(``modulo_r2``)."""

MODULO_BINS = 50
"""Bins per hidden coordinate (of its value modulo the period) for ``modulo_r2``."""


def policy_episodes(env, cfg: CollectConfig, episodes: int, seed: int) -> np.ndarray:
    """Sim states of ``episodes`` episodes of the collection policy: [E, T+1, S]."""
    from worldmodel.policies import make_policy

    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    policy = make_policy(cfg.data.policy, env.action_space, rng, cfg.data.persistence)
    out = []
    for _ in range(episodes):
        frame, info = env.reset(seed=int(rng.integers(2**31)))
        policy.reset()
        states = [info["state"]]
        for _ in range(cfg.data.episode_length):
            frame, _, _, _, info = env.step(np.asarray(policy(frame, info), np.float32))
            states.append(info["state"])
        out.append(np.stack(states))
    return np.stack(out)


def scales(features: np.ndarray) -> dict:
    """Spread and motion of a feature [E, T+1, F]: std per column, median |change| in 1 and 5
    decisions (norm over the columns)."""
    flat = features.reshape(-1, features.shape[-1])
    moves = {
        str(k): float(np.median(np.linalg.norm(features[:, k:] - features[:, :-k], axis=-1)))
        for k in (1, 5)
    }
    return {"std_per_column": flat.std(0).tolist(), "median_move": moves}


def half_turns(env, states: np.ndarray) -> dict[str, float]:
    """Per hinge joint (by name): share of ``states`` [N, S] whose frame stays the same when
    the joint turns by pi."""
    import mujoco

    hinges = joint_qpos(env, mujoco.mjtJoint.mjJNT_HINGE)
    frames = [env.render_state(state).astype(np.int16) for state in states] if hinges else []
    out = {}
    for name, q in hinges.items():
        same = 0
        for state, frame in zip(states, frames):
            turned = state.copy()
            turned[q] += np.pi
            same += int(
                np.abs(env.render_state(turned).astype(np.int16) - frame).max() <= SAME_LEVELS
            )
        out[name] = same / len(states)
    return out


def slide_periods(env, states: np.ndarray, step: float, most: float) -> dict[str, dict]:
    """Per slide joint (by name): ``{"period", "share"}``, the smallest shift ``k * step <=
    most`` after which the frame of at least half of ``states`` [N, S] stays the same, and the
    share of them that do (a floor that repeats may end somewhere, as cheetah's does 2 m behind
    its start); the period is None where no shift does."""
    import mujoco

    slides = joint_qpos(env, mujoco.mjtJoint.mjJNT_SLIDE)
    frames = [env.render_state(state).astype(np.int16) for state in states] if slides else []
    out: dict[str, dict] = {}
    for name, q in slides.items():
        out[name] = {"period": None, "share": 0.0}
        for k in range(1, int(round(most / step)) + 1):
            same = differ = 0
            for state, frame in zip(states, frames):
                shifted = state.copy()
                shifted[q] += k * step
                if np.abs(env.render_state(shifted).astype(np.int16) - frame).max() <= SAME_LEVELS:
                    same += 1
                else:
                    differ += 1
                if 2 * differ > len(states):
                    break  # fewer than half can stay the same
            if 2 * same >= len(states):
                out[name] = {"period": round(k * step, 6), "share": same / len(states)}
                break
    return out


def joint_qpos(env, kind=None) -> dict[str, int]:
    """qpos index of each joint, or of each joint of one ``mjtJoint`` kind, by name (unnamed
    joints as ``qpos<i>``)."""
    import mujoco

    model = env.physics.model
    out = {}
    for j in range(model.njnt):
        if kind is not None and model.jnt_type[j] != kind:
            continue
        q = int(model.jnt_qposadr[j])
        out[mujoco.mj_id2name(model.ptr, mujoco.mjtObj.mjOBJ_JOINT, j) or f"qpos{q}"] = q
    return out


def hidden_periods(
    qpos_of: dict[str, int], half: dict[str, float], slides: dict[str, dict]
) -> dict[str, tuple[int, float]]:
    """Joints the frames show only modulo a period in at least ``HIDDEN_SHARE`` of the sampled
    states: name -> (qpos index, period), from ``half_turns`` (pi) and ``slide_periods``."""
    out = {name: (qpos_of[name], float(np.pi)) for name, s in half.items() if s >= HIDDEN_SHARE}
    for name, found in slides.items():
        if found["period"] and found["share"] >= HIDDEN_SHARE:
            out[name] = (qpos_of[name], float(found["period"]))
    return out


def modulo_r2(
    features_of, states: np.ndarray, feature: str, hidden: dict[str, tuple[int, float]]
) -> dict:
    """R^2 of ``feature`` on episodes ``states`` [E, T, S] (E >= 2) when each column that depends
    on a ``hidden`` coordinate (name -> (state index, period): it changes when the coordinate
    moves by its period) is predicted from the coordinates it depends on taken modulo their
    periods, alone, and every other column exactly: what an embedding that codes everything the
    frames show scores if nothing else in them tells the hidden part. Not a bound: other things
    in the frame may correlate with it. Each half of the episodes (even, odd) is predicted by
    the mean within ``MODULO_BINS`` bins per coordinate of the other half, as probes are scored
    on held-out episodes. ``features_of``: states [N, S] -> {name: [N, k]}."""
    from worldmodel.diagnostics import r2_columns, r2_total

    if len(states) < 2:
        raise InputError("modulo_r2 needs at least 2 episodes (--episodes 2)")
    flat = states.reshape(-1, states.shape[-1])  # [N, S]
    values = features_of(flat)[feature]  # [N, k]
    fold = np.repeat(np.arange(len(states)) % 2, states.shape[1])  # [N]
    depends: dict[str, np.ndarray] = {}
    for name, (q, period) in hidden.items():
        moved = flat.copy()
        moved[:, q] += period
        depends[name] = np.abs(features_of(moved)[feature] - values).max(0) > 1e-9  # [k]
    res = np.zeros(values.shape[1])
    tot = np.zeros(values.shape[1])
    for test in (0, 1):
        held = fold == test
        tot += ((values[held] - values[held].mean(0)) ** 2).sum(0)
    for col in range(values.shape[1]):
        names = [name for name in hidden if depends[name][col]]
        if not names:
            continue
        cells = np.zeros(len(flat), np.int64)
        for name in names:
            q, period = hidden[name]
            b = (np.mod(flat[:, q], period) / period * MODULO_BINS).astype(np.int64)
            cells = cells * MODULO_BINS + np.minimum(b, MODULO_BINS - 1)
        for test in (0, 1):
            held, fit = fold == test, fold != test
            known, cell = np.unique(cells[fit], return_inverse=True)
            means = np.bincount(cell, values[fit, col]) / np.bincount(cell)
            guess = np.full(held.sum(), values[fit, col].mean())  # a cell the fit half lacks
            where = np.searchsorted(known, cells[held]).clip(0, len(known) - 1)
            seen = known[where] == cells[held]
            guess[seen] = means[where[seen]]
            res[col] += ((values[held, col] - guess) ** 2).sum()
    return {
        "feature": feature,
        "hidden": {name: period for name, (_, period) in hidden.items()},
        "hidden_columns": [
            c for c in range(values.shape[1]) if any(d[c] for d in depends.values())
        ],
        "r2": r2_total(res, tot),
        "r2_per_column": r2_columns(res, tot),
        "episodes": len(states),
    }


def sweep(env, state: np.ndarray, joint: int, delta: float, steps: int) -> dict:
    """Largest pixel change between neighbouring frames as ``qpos[joint]`` moves by ``delta``
    ``steps`` times from ``state``."""
    frames = []
    for i in range(steps + 1):
        moved = state.copy()
        moved[joint] += i * delta
        frames.append(env.render_state(moved).astype(np.int16))
    jumps = [int(np.abs(b - a).max()) for a, b in zip(frames, frames[1:])]
    return {
        "joint": joint,
        "delta": delta,
        "steps": steps,
        "max_pixel_change_median": float(np.median(jumps)),
        "max_pixel_change_max": max(jumps),
        "steps_with_no_change": sum(j <= SAME_LEVELS for j in jumps),
    }


def shown_features(
    env, hidden: dict[str, tuple[int, float]]
) -> tuple[Callable[[np.ndarray], dict[str, np.ndarray]], list[str]]:
    """states [N, S] -> {"shown": [N, k]}, and the k column names: qpos with each ``hidden``
    coordinate (name -> (qpos index, period P)) as sin and cos of 2 pi q / P, each other hinge
    that can turn over as its sine and cosine, every other entry as is."""
    from envs.dmc import hinge_qpos_indices, qpos_names

    model = env.physics.model
    period = {q: p for q, p in hidden.values()}
    turning = set(hinge_qpos_indices(model, turning_only=True).tolist()) - set(period)
    names: list[str] = []
    for q, name in enumerate(qpos_names(model)):
        if q in period:
            names += [f"sin 2pi {name}/{period[q]:.4g}", f"cos 2pi {name}/{period[q]:.4g}"]
        elif q in turning:
            names += [f"sin {name}", f"cos {name}"]
        else:
            names.append(name)
    nq = model.nq

    def features(states: np.ndarray) -> dict[str, np.ndarray]:
        qpos = np.atleast_2d(states)[:, :nq]  # [N, nq]
        cols = []
        for q in range(nq):
            if q in period:
                phase = 2 * np.pi * qpos[:, q] / period[q]
                cols += [np.sin(phase), np.cos(phase)]
            elif q in turning:
                cols += [np.sin(qpos[:, q]), np.cos(qpos[:, q])]
            else:
                cols.append(qpos[:, q])
        return {"shown": np.stack(cols, 1)}  # [N, k]

    return features, names


def shown_probe(env, key: str, checkpoint: str, hidden: dict[str, tuple[int, float]]) -> dict:
    """``worldmodel.probe`` of ``checkpoint`` (a model of world ``key``) with the feature of
    :func:`shown_features` beside the world's own; its probe.json goes to a scratch folder."""
    import tempfile

    from worldmodel.api import load
    from worldmodel.checkpoint import config_from_dict
    from worldmodel.config import ProbeConfig
    from worldmodel.probe import probe

    trained = env_key(config_from_dict(load(checkpoint).info["config"]).env)
    if trained != key:
        raise InputError(
            f"--checkpoint {checkpoint} is a model of {trained}, not of {key}: name its world "
            f"with the same overrides it was trained with"
        )
    features, names = shown_features(env, hidden)
    with tempfile.TemporaryDirectory() as scratch:
        cfg = load_config(
            [f"checkpoint={checkpoint}", f"run_dir={scratch}", "progress=false"],
            config_name="probe",
            schema=ProbeConfig,
            name="worldmodel.probe",
        )
        stats = probe(cfg, features)
    return {
        "checkpoint": checkpoint,
        "columns": names,
        "hidden": {name: period for name, (_, period) in hidden.items()},
        "probe": stats,
    }


def render_ms(env, states: np.ndarray) -> float:
    times = []
    for state in states:
        start = time.perf_counter()
        env.render_state(state)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def measure(
    overrides: list[str],
    episodes: int,
    joint: int,
    delta: float,
    steps: int,
    period_step: float = 0.05,
    period_max: float = 4.0,
    checkpoint: str | None = None,
) -> dict:
    from envs import make

    cfg = load_config(overrides, schema=CollectConfig)
    key = env_key(cfg.env)
    feature = CONTROLLABLE.get(key, CONTROLLABLE.get(cfg.env.name, "position"))
    env = make(cfg.env.name, **env_kwargs(cfg.env))
    try:
        states = policy_episodes(env, cfg, episodes, cfg.seed)  # [E, T+1, S]
        flat = states.reshape(-1, states.shape[-1])
        features = env.state_features(flat)
        if feature not in features:
            raise InputError(f"{key} has no state feature {feature!r}; it has {sorted(features)}")
        picked = flat[np.linspace(0, len(flat) - 1, min(PICKED, len(flat))).astype(int)]
        nq = env.physics.model.nq
        if not 0 <= joint < nq:
            raise InputError(f"--joint {joint} is not a qpos index of {key} (0..{nq - 1})")
        half = half_turns(env, picked)
        slides = slide_periods(env, picked, period_step, period_max)
        hidden = hidden_periods(joint_qpos(env), half, slides)
        supersample = getattr(env, "supersample", 1)
        out: dict = {
            "world": key,
            "overrides": overrides,
            "episodes": episodes,
            "feature": feature,
            "scales": scales(features[feature].reshape(*states.shape[:2], -1)),
            "half_turns": half,
            "slide_periods": slides,
            "modulo_r2": modulo_r2(env.state_features, states, feature, hidden),
            "sweep": sweep(env, states[0, 0], joint, delta, steps),
            "render_ms": render_ms(env, picked),
            "image_size": cfg.env.image_size,
            "supersample": supersample,
        }
        if checkpoint:
            out["shown_probe"] = shown_probe(env, key, checkpoint, hidden)
        if supersample > 1:
            env.supersample = 1  # the offscreen buffer stays big enough
            out["without_supersampling"] = {
                "sweep": sweep(env, states[0, 0], joint, delta, steps),
                "render_ms": render_ms(env, picked),
            }
        return out
    finally:
        env.close()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="worldmodel.collect settings, e.g. env=wall")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--joint", type=int, default=0, help="qpos index of the sweep")
    parser.add_argument("--delta", type=float, default=0.0005, help="sweep step (qpos units)")
    parser.add_argument("--steps", type=int, default=40, help="sweep steps")
    parser.add_argument("--period-step", type=float, default=0.05, help="slide period search")
    parser.add_argument("--period-max", type=float, default=4.0, help="slide period search")
    parser.add_argument("--checkpoint", help="a model of this world: probe it on `shown` too")
    parser.add_argument("--out", help="output path (default benchmarks/results/observability/)")
    args = parser.parse_args(argv)
    if args.episodes < 2:
        parser.error("--episodes must be at least 2 (modulo_r2 scores held-out episodes)")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if not 0 < args.period_step <= args.period_max:
        parser.error("--period-step must be > 0 and at most --period-max")
    out = measure(
        args.overrides,
        args.episodes,
        args.joint,
        args.delta,
        args.steps,
        args.period_step,
        args.period_max,
        args.checkpoint,
    )
    out["machine"] = machine()
    name = out["world"] + ("-shown-probe" if args.checkpoint else "")
    write_json("", out, args.out or str(RESULTS / "observability" / f"{name}.json"))
    print(summary(out))
    return out


def summary(out: dict) -> str:
    s, sw = out["scales"], out["sweep"]
    lines = [
        f"{out['world']}: {out['feature']} std per column "
        + ", ".join(f"{v:.3g}" for v in s["std_per_column"])
        + f"; median move {s['median_move']['1']:.3g} in 1 decision, "
        f"{s['median_move']['5']:.3g} in 5",
        f"sweep of qpos[{sw['joint']}] by {sw['delta']}: largest pixel change per step median "
        f"{sw['max_pixel_change_median']:.0f}, max {sw['max_pixel_change_max']} levels; "
        f"render {out['render_ms']:.1f} ms a frame",
    ]
    if "without_supersampling" in out:
        plain = out["without_supersampling"]
        lines.append(
            f"without supersampling: largest pixel change per step median "
            f"{plain['sweep']['max_pixel_change_median']:.0f}, max "
            f"{plain['sweep']['max_pixel_change_max']} levels; render {plain['render_ms']:.1f} ms"
        )
    for name, share in out["half_turns"].items():
        lines.append(f"hinge {name}: same frame after a half turn in {share:.0%} of states")
    for name, found in out["slide_periods"].items():
        seen = (
            f"the same frame after a shift of {found['period']} in {found['share']:.0%} of states"
            if found["period"]
            else "no repeat found"
        )
        lines.append(f"slide {name}: {seen}")
    mod = out["modulo_r2"]
    lines.append(
        f"{mod['feature']} R^2 if the frames tell the hidden part only modulo its period: "
        f"{mod['r2']:.3f} "
        + (
            f"(hidden modulo a period: {', '.join(mod['hidden'])})"
            if mod["hidden"]
            else "(nothing hidden found)"
        )
    )
    if "shown_probe" in out:
        stats = out["shown_probe"]["probe"]
        lines.append(
            f"{out['shown_probe']['checkpoint']}: probe R^2 of shown {stats['probe_r2']['shown']:.3f}"
            f" (history {stats['probe_r2_history']['shown']:.3f}), of {out['feature']} "
            f"{stats['probe_r2'][out['feature']]:.3f}; per column "
            + ", ".join(
                f"{n} {v:.2f}"
                for n, v in zip(out["shown_probe"]["columns"], stats["probe_r2_per_dim"]["shown"])
            )
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
