"""``python -m agents.rl env=reacher algo=sac representation=jepa|pixels|state checkpoint=PATH``.

Trains a Stable-Baselines3 agent (SAC or PPO) on the world's own reward (reacher: dm_control
reacher-easy, target drawn) from frozen JEPA embeddings, from pixels (SB3's CNN from scratch)
or from the true state, then plays ``rl.eval_episodes`` deterministic episodes. Writes into
``run_dir``: ``curve.csv`` (env steps, return of each training episode), ``curve.png``,
``result.json`` (final mean return and the settings) and ``agent.zip`` (the SB3 model).
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import TimeLimit

import envs
from agents.rl.config import HINTS, RLConfig, resolve_critic
from agents.rl.representation import JEPAObservation, StateObservation, optional
from worldmodel.api import load
from worldmodel.checkpoint import CheckpointError
from worldmodel.config import env_key, env_kwargs, task_env_overrides
from worldmodel.data import atomic_write_text
from worldmodel.model import WorldModel
from worldmodel.runtime.device import resolve_device
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.progress import progress as progress_bar
from worldmodel.runtime.seeding import seed_everything

USAGE = """usage: python -m agents.rl [env=reacher] [algo=sac|ppo] [representation=jepa|pixels|state] [checkpoint=PATH] [key=value ...]
  python -m agents.rl representation=jepa checkpoint=runs/reacher-cpu rl.steps=50000
  python -m agents.rl representation=pixels algo=sac seed=1
  python -m agents.rl representation=jepa rl.finetune=true checkpoint=runs/reacher-cpu
  python -m agents.rl representation=state rl.evaluate=runs/rl/reacher-target-sac-state-seed0 rl.eval_episodes=50
On 2 CPU cores 1000 env steps take about 280 s (pixels), 10 s (jepa) or 9 s (state), so the
default rl.steps=100000 takes about 8 hours, 17 minutes or 15 minutes; a bar shows progress."""


def train(cfg: RLConfig) -> dict[str, Any]:
    """Train, evaluate and write the run's files; returns what result.json holds."""
    sb3 = optional("stable_baselines3", "python -m agents.rl")
    optional("matplotlib", "python -m agents.rl (curve.png)")
    from stable_baselines3.common.evaluation import evaluate_policy

    device = resolve_device(cfg.device)
    if cfg.rl.threads:
        torch.set_num_threads(cfg.rl.threads)
    seed_everything(cfg.seed)
    model = _load_checkpoint(cfg, str(device)) if cfg.representation == "jepa" else None
    repeat = cfg.rl.action_repeat or (
        model.info["env"]["action_repeat"] if model else cfg.env.action_repeat
    )
    stack = (
        cfg.rl.frame_stack
        or {
            "jepa": max(JEPA_FRAME_STACK, model.history if model else 1),
            "pixels": 3,
            "state": 1,
        }[cfg.representation]
    )
    if cfg.rl.evaluate:
        return evaluate(cfg, sb3, model, repeat, stack, str(device))
    decisions = math.ceil(cfg.rl.steps / repeat)
    name = f"{env_key(cfg.env)}-{cfg.algo}-{cfg.representation}{'-ft' if cfg.rl.finetune else ''}"
    run_dir = Path(cfg.run_dir or Path("runs") / "rl" / f"{name}-seed{cfg.seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    critic = ""
    if cfg.algo == "sac":
        critic = (
            f", critic dropout {cfg.rl.critic_dropout} layer norm {cfg.rl.critic_layer_norm}"
            if cfg.rl.critic_dropout or cfg.rl.critic_layer_norm
            else ", SB3's plain critic"
        )
    print(
        f"{name}: {decisions} decisions x {repeat} = {decisions * repeat} env steps, frame stack "
        f"{stack}{critic}, on {device}"
    )

    env, _ = make_vec_env(cfg, model, repeat, stack, seed=cfg.seed)
    agent = make_agent(sb3, cfg, env, model, decisions, str(device))
    # SB3's own log (losses, rollout stats) goes to the run, not to a new folder in /tmp per run.
    from stable_baselines3.common.logger import configure

    agent.set_logger(configure(str(run_dir / "sb3"), ["csv"]))
    curve = Curve(repeat, decisions, progress=cfg.progress)
    start = time.time()
    agent.learn(decisions, callback=curve)
    curve.close()
    eval_env, eval_starts = make_vec_env(
        cfg, model, repeat, stack, seed=cfg.seed + EVAL_SEED_OFFSET
    )
    returns, _ = evaluate_policy(agent, eval_env, cfg.rl.eval_episodes, return_episode_rewards=True)
    assert isinstance(returns, list)  # return_episode_rewards=True: one return per episode
    wall = time.time() - start

    agent.save(run_dir / "agent.zip")
    result = {
        "env": env_key(cfg.env),
        "env_kwargs": {**env_kwargs(cfg.env), "action_repeat": repeat},
        "algo": cfg.algo,
        "representation": cfg.representation,
        "finetune": cfg.rl.finetune,
        "trunk": cfg.rl.trunk,
        "gradient_steps": cfg.rl.gradient_steps,
        "train_freq": cfg.rl.train_freq,
        "critic_dropout": cfg.rl.critic_dropout,
        "critic_layer_norm": cfg.rl.critic_layer_norm,
        "env_steps": decisions * repeat,
        "decisions": decisions,
        "frame_stack": stack,
        "seed": cfg.seed,
        "final_return": float(np.mean(returns)),
        "final_return_std": float(np.std(returns)),
        "eval_episodes": len(returns),
        "eval_returns": [float(r) for r in returns],
        "eval_starts": eval_starts[: len(returns)],
        "train_episodes": len(curve.rows),
        "checkpoint": model.info["path"] if model else None,
        "wall_time_s": round(wall, 1),
        "device": str(device),
        "date": time.strftime("%Y-%m-%d"),
    }
    write_curve(curve.rows, run_dir, title=f"{name} seed {cfg.seed}", final=result)
    (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"final return {result['final_return']:.1f} +- {result['final_return_std']:.1f} over "
        f"{len(returns)} episodes after {result['env_steps']} env steps ({wall:.0f} s)\nresults: {run_dir}"
    )
    return result


JEPA_FRAME_STACK = 3
"""Frames whose frozen embeddings a jepa policy reads by default (more if model.history is
longer): on reacher-easy SAC on 3 frames of the keypoints + temporal features beat 2 (the
model's history) on every one of 6 seeds (docs/results-log.md, "SAC on three frames")."""

EVAL_SEED_OFFSET = 10_000
"""The final evaluation's env seed is the run's seed plus this (the training env has the seed)."""


def evaluate(
    cfg: RLConfig, sb3, model: WorldModel | None, repeat: int, stack: int, device: str
) -> dict[str, Any]:
    """Play ``rl.eval_episodes`` deterministic episodes with the saved agent ``rl.evaluate``;
    writes and returns ``evaluation-<episodes>.json`` beside it (each episode's return, start
    state and :func:`reward_timing`). The env seed is the final
    evaluation's, so the first episodes replay it: their returns are checked against the run's
    result.json when it is there (a mismatch means another command line, or another machine)."""
    from stable_baselines3.common.evaluation import evaluate_policy

    path = Path(str(cfg.rl.evaluate))
    agent_file = path / "agent.zip" if path.is_dir() else path
    if not agent_file.is_file():
        raise InputError(
            f"rl.evaluate={cfg.rl.evaluate}: no agent there (expected an agent.zip or the run "
            "folder that holds one, written by python -m agents.rl)"
        )
    final = _read_result(agent_file.parent / "result.json")
    unset = cfg.rl.critic_dropout is None or cfg.rl.critic_layer_norm is None
    resolve_critic(cfg.rl, cfg.algo, recorded=final or None)
    if unset and final:
        print(
            f"note: critic dropout {cfg.rl.critic_dropout}, layer norm {cfg.rl.critic_layer_norm}, "
            "the run's (result.json)"
        )
    recorded = final.get("frame_stack")
    if not cfg.rl.frame_stack and isinstance(recorded, int) and recorded >= 1 and recorded != stack:
        stack = recorded  # the run's, when the default has changed since
        print(f"note: frame stack {stack}, the run's (result.json)")
    env, starts = make_vec_env(cfg, model, repeat, stack, seed=cfg.seed)
    # A fresh agent of the command line's settings takes the saved weights (torch tensors,
    # loaded with weights_only): nothing of the zip is unpickled.
    agent = make_agent(sb3, cfg, env, model, decisions=1, device=device)
    env.seed(cfg.seed + EVAL_SEED_OFFSET)  # after the agent, which seeds its env with cfg.seed
    try:
        agent.set_parameters(str(agent_file), exact_match=True, device=device)
    except Exception as e:  # SB3 raises many kinds on a foreign, broken or mismatched zip
        raise InputError(
            f"rl.evaluate={cfg.rl.evaluate}: its weights do not fit an {cfg.algo.upper()} agent "
            f"reading representation={cfg.representation} ({type(e).__name__}: {e}); pass the "
            "command line it was trained with"
        ) from e
    start = time.time()
    rewards: list[list[float]] = [[]]  # per decision, of the episode under way

    def record(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        rewards[-1].append(float(local["rewards"][0]))
        if local["dones"][0]:
            rewards.append([])

    returns, _ = evaluate_policy(
        agent, env, cfg.rl.eval_episodes, return_episode_rewards=True, callback=record
    )
    assert isinstance(returns, list)  # return_episode_rewards=True: one return per episode
    out = {
        "agent": str(agent_file),
        "representation": cfg.representation,
        "seed": cfg.seed,
        "eval_seed": cfg.seed + EVAL_SEED_OFFSET,
        "episodes": len(returns),
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "returns": [float(r) for r in returns],
        "starts": starts[: len(returns)],
        "reward_timing": [reward_timing(np.array(r)) for r in rewards[: len(returns)]],
        "replays_final_evaluation": None,
        "wall_time_s": round(time.time() - start, 1),
        "device": device,
        "date": time.strftime("%Y-%m-%d"),
    }
    try:
        n = min(len(final["eval_returns"]), len(returns))
        same = np.allclose(final["eval_returns"][:n], returns[:n], atol=1e-3)
        if "eval_starts" in final:  # runs before 2026-12-07 recorded the returns alone
            same = same and np.allclose(final["eval_starts"][:n], starts[:n], atol=1e-5)
        out["replays_final_evaluation"] = bool(same)
    except (ValueError, KeyError, TypeError):
        pass  # no result.json beside the agent: nothing to check against
    target = agent_file.parent / f"evaluation-{len(returns)}.json"
    atomic_write_text(target, json.dumps(out, indent=2) + "\n")
    print(
        f"{agent_file}: mean return {out['mean_return']:.1f} +- {out['std_return']:.1f} over "
        f"{len(returns)} episodes ({out['wall_time_s']:.0f} s); written to {target}"
    )
    if out["replays_final_evaluation"] is False:
        print(
            "warning: the first episodes do not replay the run's final evaluation "
            "(result.json): another command line, or another machine, gave the agent other episodes"
        )
    return out


def reward_timing(rewards: np.ndarray) -> dict[str, int | None]:
    """When an episode's reward came: ``[T]`` rewards per decision -> ``first`` (the first
    decision rewarded, None if none was) and ``exits`` (how often a rewarded decision was
    followed by an unrewarded one). On reacher-easy an agent that reaches the target and then
    slides in and out of it has an early ``first`` and many exits; one that arrives late has
    a late ``first``."""
    rewarded = np.asarray(rewards) > 0
    hits = np.flatnonzero(rewarded)
    return {
        "first": int(hits[0]) if len(hits) else None,
        "exits": int(np.sum(rewarded[:-1] & ~rewarded[1:])),
    }


def _read_result(path: Path) -> dict[str, Any]:
    """A run's result.json, or {} when it is missing or unreadable."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return result if isinstance(result, dict) else {}


def _load_checkpoint(cfg: RLConfig, device: str) -> WorldModel:
    path = cfg.checkpoint or str(Path("runs") / f"{env_key(cfg.env)}-cpu")
    model = load(path, device=device)
    meta = model.info["env"]
    world = (meta["name"], meta["kwargs"].get("domain"), meta["kwargs"].get("task"))
    if world != (cfg.env.name, *(env_kwargs(cfg.env).get(k) for k in ("domain", "task"))):
        raise CheckpointError(
            f"{path} was trained on world {meta['key']!r}, but the agent plays "
            f"{env_key(cfg.env)!r}; pass the checkpoint of that world, or train one with "
            f"`python -m worldmodel.train {' '.join(task_env_overrides(cfg.env.name, env_kwargs(cfg.env)))}`"
        )
    blind = _target_probe(Path(model.info["path"]))
    if cfg.env.name == "reacher" and cfg.env.draw_target and not meta["kwargs"].get("draw_target"):
        print(
            f"warning: {path} was trained on frames without the target; its embeddings may not "
            "show where the target is (train one with env.draw_target=true)"
        )
    elif blind is not None and blind < TARGET_PROBE_FLOOR:
        print(
            f"warning: {path} does not code where the target is (probe R^2 {blind:.2f} for "
            "target_pos in its probe.json), and the reward depends on it. Marker jitter "
            "(data.marker_jitter, this world's default) makes the embedding drop the target; "
            "model.encoder=cnn_keypoints model.temporal_weight=0.03 beside it codes the target "
            "and the arm (reacher: probe R^2 0.98 and 0.88, where the default reads 0.04 and "
            "0.99; docs/results-log.md), and rl.finetune=true lets the reward train the encoder"
        )
    if meta["image_size"] != cfg.env.image_size:
        print(
            f"note: {cfg.env.image_size}px frames are resized to the model's {meta['image_size']}px"
        )
    return model


TARGET_PROBE_FLOOR = 0.5
"""Below this probe R^2 of target_pos (from the history) the embedding is taken not to code the
target: the default reacher-target model reads 0.04 (-0.02 on episodes whose target stays put),
and at 0.5 half of the target's variance is already missing."""


def _target_probe(checkpoint: Path) -> float | None:
    """The run's probe R^2 of ``target_pos`` (from the predictor's history) in the
    ``probe.json`` beside ``checkpoint``; None when there is no such file or feature."""
    try:
        probe = json.loads(checkpoint.with_name("probe.json").read_text())
        return float(probe["probe_r2_history"]["target_pos"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_vec_env(cfg: RLConfig, model: WorldModel | None, repeat: int, stack: int, seed: int):
    """One env of the world, ``rl.episode_length`` long, seen through the representation, and
    the list its :class:`EpisodeStarts` fills with each episode's start state."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    frozen_jepa = cfg.representation == "jepa" and not cfg.rl.finetune
    starts: list[list[float]] = []

    def build():
        env = envs.make(cfg.env.name, **{**env_kwargs(cfg.env), "action_repeat": repeat})
        env = EpisodeStarts(env, starts)
        env = TimeLimit(env, max_episode_steps=max(1, cfg.rl.episode_length // repeat))
        if frozen_jepa:
            env = JEPAObservation(env, model, frame_history=stack)  # type: ignore[arg-type]
        elif cfg.representation == "state":
            env = StateObservation(env)
        return Monitor(env)

    vec = DummyVecEnv([build])
    vec.seed(seed)
    return (VecFrameStack(vec, stack) if stack > 1 and not frozen_jepa else vec), starts


class EpisodeStarts(gym.Wrapper):
    """Appends the world state each episode starts from (``info["state"]`` at reset, rounded
    to 1e-6) to ``starts``: which episodes an evaluation played, so that a replay can be checked."""

    def __init__(self, env: gym.Env, starts: list[list[float]]) -> None:
        super().__init__(env)
        self.starts = starts

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.starts.append(np.round(np.asarray(info["state"], dtype=float), 6).tolist())
        return obs, info


def make_agent(sb3, cfg: RLConfig, env, model: WorldModel | None, decisions: int, device: str):
    """An SB3 SAC or PPO agent whose policy reads the representation."""
    policy, policy_kwargs = "MlpPolicy", {}
    if cfg.representation == "pixels":
        policy = "CnnPolicy"  # NatureCNN, trained from scratch (needs frames >= 36 px)
    elif cfg.rl.finetune:
        from agents.rl.representation import JEPAExtractor

        assert model is not None  # finetune needs representation=jepa, which loads the model

        policy = "CnnPolicy"
        policy_kwargs = {
            "features_extractor_class": JEPAExtractor,
            "features_extractor_kwargs": {"checkpoint": model.info["path"], "freeze": False},
        }
    elif cfg.rl.trunk:
        from agents.rl.representation import TrunkExtractor

        policy_kwargs = {
            "features_extractor_class": TrunkExtractor,
            "features_extractor_kwargs": {"features_dim": cfg.rl.trunk},
        }
    if cfg.rl.critic_dropout or cfg.rl.critic_layer_norm:
        from agents.rl.critic import RegularisedSACPolicy

        if policy == "CnnPolicy" and "features_extractor_class" not in policy_kwargs:
            from stable_baselines3.common.torch_layers import NatureCNN

            policy_kwargs["features_extractor_class"] = NatureCNN
        policy = RegularisedSACPolicy  # SB3's SACPolicy (Mlp or Cnn by its extractor)
        policy_kwargs |= {
            "critic_dropout": cfg.rl.critic_dropout,
            "critic_layer_norm": cfg.rl.critic_layer_norm,
        }
    common = {
        "learning_rate": cfg.rl.lr,
        "policy_kwargs": policy_kwargs,
        "seed": cfg.seed,
        "device": device,
    }
    if cfg.algo == "sac":
        return sb3.SAC(
            policy,
            env,
            buffer_size=min(cfg.rl.buffer_size, decisions),
            learning_starts=cfg.rl.learning_starts,
            batch_size=cfg.rl.batch_size,
            gradient_steps=cfg.rl.gradient_steps,
            train_freq=cfg.rl.train_freq,
            **common,
        )
    rollout = min(cfg.rl.ppo_rollout, decisions)
    return sb3.PPO(
        policy, env, n_steps=max(2, rollout), batch_size=min(cfg.rl.batch_size, rollout), **common
    )


class Curve:
    """SB3 callback (a plain function of its locals): records each finished training episode's
    return against env steps, and shows a progress bar."""

    def __init__(self, repeat: int, decisions: int, progress: bool = True):
        self.repeat = repeat
        self.rows: list[tuple[int, float]] = []
        self.bar = progress_bar(
            total=decisions * repeat, desc="learn", unit="env step", enabled=progress
        )

    def __call__(self, local: dict[str, Any], _globals: dict[str, Any]) -> bool:
        env_steps = local["self"].num_timesteps * self.repeat
        self.bar.update(env_steps - self.bar.n)
        for info in local["infos"]:
            if "episode" in info:  # set by Monitor when an episode ends
                self.rows.append((env_steps, float(info["episode"]["r"])))
                self.bar.set_postfix(ret=f"{self.rows[-1][1]:.1f}")
        return True

    def close(self) -> None:
        self.bar.close()


def write_curve(rows: list[tuple[int, float]], run_dir: Path, title: str, final: dict) -> None:
    """``curve.csv`` (env_steps, episode_return) and ``curve.png`` with a moving average."""
    with open(run_dir / "curve.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_steps", "episode_return"])
        writer.writerows(rows)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if rows:
        steps, ret = np.array(rows).T
        ax.plot(steps, ret, ".-", alpha=0.4, lw=0.5, label="training episode")
        w = len(ret) // 10
        if w > 1:
            ax.plot(steps[w - 1 :], np.convolve(ret, np.ones(w) / w, "valid"), label=f"mean of {w}")
    ax.errorbar(
        [final["env_steps"]],
        [final["final_return"]],
        [final["final_return_std"]],
        fmt="o",
        color="k",
        label=f"eval ({final['eval_episodes']} episodes)",
    )
    ax.set(xlabel="env steps", ylabel="episode return", title=title)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(run_dir / "curve.png", dpi=100)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from worldmodel.runtime.cli import run_command

    return run_command(
        train,
        argv,
        config_name="rl",
        schema=RLConfig,
        usage=USAGE,
        name="agents.rl",
        hints=HINTS,
        errors=(ImportError,),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
