"""RL on JEPA features: the observation wrapper, the SB3 extractor, and `agents.rl` end to end."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import AddRenderObservation, TimeLimit

import envs
import worldmodel
from agents.rl import representation
from agents.rl.representation import SB3_HINT, JEPAFeatures, JEPAObservation, StateObservation
from tests.conftest import run_cli

sb3 = pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="session")
def checkpoint(tiny_run) -> Path:
    """The session's preset=debug reacher model (32x32 frames): its checkpoint file."""
    return tiny_run / "checkpoint.pt"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small SB3 networks on a busy 2-core machine run far faster on one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reacher(size: int = 32, length: int = 10) -> gym.Env:
    return TimeLimit(
        envs.make("reacher", image_size=size, draw_target=True), max_episode_steps=length
    )


@pytest.mark.filterwarnings("ignore:.*(infinity|unwrapped version).*:UserWarning")
def test_wrapper_passes_check_env_and_pads_history(checkpoint):
    model = worldmodel.load(str(checkpoint), device="cpu")
    env = JEPAObservation(_reacher(), model)
    assert env.observation_space.shape == (model.embed_dim * model.history,)
    assert env.observation_space.dtype == np.float32
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    first = model.encode(env.unwrapped.render()[None])[0].numpy()
    np.testing.assert_allclose(obs, np.tile(first, model.history), atol=1e-5)  # reset-padded
    obs2, *_ = env.step(env.action_space.sample())
    np.testing.assert_allclose(obs2[: model.embed_dim], first, atol=1e-5)  # oldest first
    assert not env.model.training
    env.close()


def test_frames_of_another_size_are_resized_and_shimmy_dm_control_works(checkpoint):
    shimmy = pytest.importorskip("shimmy")
    gym.register_envs(shimmy)
    env = JEPAObservation(_reacher(size=48), str(checkpoint), device="cpu", frame_history=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16 * 3,) and np.isfinite(obs).all()  # debug preset: embed_dim 16

    base = gym.make(
        "dm_control/reacher-easy-v0",
        render_mode="rgb_array",
        render_kwargs={"width": 40, "height": 40},
    )
    with pytest.raises(ValueError, match="AddRenderObservation"):
        JEPAObservation(base, str(checkpoint), device="cpu")
    env = JEPAObservation(
        AddRenderObservation(base, render_only=True), str(checkpoint), device="cpu"
    )
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(env.action_space.sample())
    assert obs.shape == env.observation_space.shape and np.isfinite(obs).all()
    env.close()


class _FramesEnv(gym.Env):
    """A stand-in pixel env with any observation space."""

    def __init__(self, space: spaces.Space):
        self.observation_space, self.action_space = space, spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize(
    "space, match",
    [
        (spaces.Box(0, 255, (32, 32, 1), np.uint8), "RGB"),
        (spaces.Box(0, 255, (3, 32, 32), np.uint8), "channel-first"),
        (spaces.Box(0, 1, (32, 32, 3), np.float32), "uint8"),
    ],
)
def test_wrapper_rejects_frames_it_cannot_read(checkpoint, space, match):
    with pytest.raises(ValueError, match=match):
        JEPAObservation(_FramesEnv(space), str(checkpoint), device="cpu")


def test_wrapper_rejects_a_frame_that_breaks_the_env_promise(checkpoint):
    env = JEPAObservation(_FramesEnv(spaces.Box(0, 255, (32, 32, 3), np.uint8)), str(checkpoint))
    with pytest.raises(ValueError, match="promised uint8"):
        env.observation(np.zeros((32, 32, 3), np.float32))


def test_extractor_reads_both_layouts_and_rejects_non_rgb(checkpoint):
    first = JEPAFeatures(spaces.Box(0, 255, (6, 32, 32), np.uint8), checkpoint)
    last = JEPAFeatures(spaces.Box(0, 255, (32, 32, 6), np.uint8), checkpoint)
    last.load_state_dict(first.state_dict())
    x = torch.rand(4, 6, 32, 32)  # [B, 2 frames * 3, H, W] in [0, 1]
    assert first(x).shape == (4, 32)
    torch.testing.assert_close(first(x), last(x.movedim(1, -1)))
    with pytest.raises(ValueError, match="3 channels per stacked frame"):
        JEPAFeatures(spaces.Box(0, 255, (4, 32, 32), np.uint8), checkpoint)


def _quiet_log(agent, folder):
    """SB3 makes a new folder in /tmp per run unless given a logger."""
    from stable_baselines3.common.logger import configure

    agent.set_logger(configure(str(folder), ["csv"]))


def test_sac_learns_from_the_wrapper(checkpoint, tmp_path):
    env = JEPAObservation(_reacher(), str(checkpoint), device="cpu")
    agent = sb3.SAC("MlpPolicy", env, buffer_size=200, learning_starts=50, batch_size=16, seed=0)
    _quiet_log(agent, tmp_path)
    agent.learn(150)
    assert agent.num_timesteps == 150


def test_trunk_is_a_trained_head_of_each_network_on_flat_features(checkpoint, tmp_path):
    from agents.rl import train as rl
    from agents.rl.config import RLConfig

    cfg = RLConfig(representation="jepa", checkpoint=str(checkpoint))
    cfg.rl.trunk, cfg.rl.learning_starts, cfg.rl.batch_size = 12, 50, 16
    env = JEPAObservation(_reacher(), str(checkpoint), device="cpu")  # [D * history]
    agent = rl.make_agent(sb3, cfg, env, None, decisions=200, device="cpu")
    actor, critic = agent.policy.actor.features_extractor, agent.policy.critic.features_extractor
    assert actor is not critic  # each trains its own
    obs = torch.as_tensor(env.reset(seed=0)[0])[None].repeat(4, 1)  # [4, D * history]
    out = actor(obs)
    assert out.shape == (4, 12) and bool((out.abs() < 1).all())  # tanh
    before = [p.detach().clone() for p in critic.parameters()]
    _quiet_log(agent, tmp_path)
    agent.learn(120)
    assert any(not torch.equal(a, b) for a, b in zip(before, critic.parameters()))
    with pytest.raises(ValueError, match="needs flat features"):
        representation.TrunkExtractor(spaces.Box(0, 255, (32, 32, 3), np.uint8))


@pytest.mark.parametrize(("steps", "freq", "updates"), [(3, 1, 30), (1, 2, 5)])
def test_gradient_steps_and_train_freq_set_sacs_updates(checkpoint, tmp_path, steps, freq, updates):
    from agents.rl import train as rl
    from agents.rl.config import RLConfig

    cfg = RLConfig(representation="jepa", checkpoint=str(checkpoint))
    cfg.rl.gradient_steps, cfg.rl.train_freq = steps, freq
    cfg.rl.learning_starts, cfg.rl.batch_size = 50, 16
    env = JEPAObservation(_reacher(), str(checkpoint), device="cpu")
    agent = rl.make_agent(sb3, cfg, env, None, decisions=200, device="cpu")
    _quiet_log(agent, tmp_path)
    agent.learn(60)  # 50 random decisions, then 10 with `steps` updates every `freq`
    assert agent._n_updates == updates


def test_regularised_critic_has_dropout_and_layer_norm_and_trains(checkpoint, tmp_path):
    from agents.rl import train as rl
    from agents.rl.config import RLConfig

    cfg = RLConfig(representation="jepa", checkpoint=str(checkpoint))
    cfg.rl.critic_dropout, cfg.rl.critic_layer_norm = 0.5, True
    cfg.rl.learning_starts, cfg.rl.batch_size = 50, 16
    env = JEPAObservation(_reacher(), str(checkpoint), device="cpu")
    agent = rl.make_agent(sb3, cfg, env, None, decisions=200, device="cpu")
    for critic in (agent.policy.critic, agent.policy.critic_target):
        assert len(critic.q_networks) == 2
        for q in critic.q_networks:  # 2 hidden layers of 256: Linear, Dropout, LayerNorm, ReLU
            kinds = [type(m).__name__ for m in q]
            assert kinds == ["Linear", "Dropout", "LayerNorm", "ReLU"] * 2 + ["Linear"]
            assert q[1].p == 0.5
    assert not agent.policy.critic_target.training  # the target critic: no dropout
    assert [type(m).__name__ for m in agent.policy.actor.latent_pi] == ["Linear", "ReLU"] * 2
    obs = torch.as_tensor(env.reset(seed=0)[0])[None].repeat(64, 1)  # [64, D * history]
    act = torch.zeros(64, 2)
    agent.policy.critic.train()
    q1, q2 = agent.policy.critic(obs, act)  # dropout on: the same input gives different values
    assert q1.shape == (64, 1) and not torch.allclose(q1, q1[:1].expand_as(q1))
    agent.policy.critic.eval()
    q1, _ = agent.policy.critic(obs, act)
    assert torch.allclose(q1, q1[:1].expand_as(q1))
    before = [p.detach().clone() for p in agent.policy.critic.parameters()]
    _quiet_log(agent, tmp_path)
    agent.learn(60)
    assert agent._n_updates == 10
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.policy.critic.parameters()))
    # Saved and loaded as SB3 saves any agent: the critic comes back with its layers.
    agent.save(tmp_path / "agent.zip")
    loaded = sb3.SAC.load(tmp_path / "agent.zip", device="cpu")
    assert [type(m).__name__ for m in loaded.policy.critic.qf0][:3] == [
        "Linear",
        "Dropout",
        "LayerNorm",
    ]
    assert loaded.policy.critic_dropout == 0.5
    # Layer norm alone: no dropout layers; neither: SB3's plain MLP.
    cfg.rl.critic_dropout = 0.0
    norm_only = rl.make_agent(sb3, cfg, env, None, decisions=200, device="cpu")
    assert "Dropout" not in [type(m).__name__ for m in norm_only.policy.critic.qf0]
    cfg.rl.critic_layer_norm = False
    plain = rl.make_agent(sb3, cfg, env, None, decisions=200, device="cpu")
    assert [type(m).__name__ for m in plain.policy.critic.qf0] == ["Linear", "ReLU"] * 2 + [
        "Linear"
    ]


def test_sacs_critic_is_droqs_by_default_and_a_runs_own_when_evaluated():
    from agents.rl.config import RLConfig, RLSettings, resolve_critic

    def critic(cfg):
        return cfg.rl.critic_dropout, cfg.rl.critic_layer_norm

    assert critic(RLConfig()) == (0.01, True)
    assert critic(RLConfig(algo="ppo")) == (0.0, False)  # no Q networks
    assert critic(RLConfig(rl=RLSettings(critic_dropout=0.0, critic_layer_norm=False))) == (
        0,
        False,
    )
    assert critic(RLConfig(rl=RLSettings(critic_dropout=0.2))) == (0.2, True)
    evaluated = RLConfig(rl=RLSettings(evaluate="runs/rl/x"))
    assert critic(evaluated) == (None, None)  # left to the run's result.json
    resolve_critic(evaluated.rl, "sac", recorded={"final_return": 1.0})  # a run from before
    assert critic(evaluated) == (0.0, False)
    evaluated.rl.critic_dropout = evaluated.rl.critic_layer_norm = None
    resolve_critic(
        evaluated.rl, "sac", recorded={"critic_dropout": 0.01, "critic_layer_norm": True}
    )
    assert critic(evaluated) == (0.01, True)


@pytest.mark.parametrize("kind", ["pixels", "finetune"])
def test_default_critic_on_a_cnn_keeps_its_feature_network_and_trains(checkpoint, tmp_path, kind):
    """DroQ's critic is the default for every representation: on pixels (SB3's NatureCNN) and
    on the fine-tuned encoder (JEPAExtractor) too."""
    from stable_baselines3.common.torch_layers import NatureCNN

    from agents.rl import train as rl
    from agents.rl.config import RLConfig

    if kind == "pixels":
        cfg = RLConfig(representation="pixels")
        cfg.env.image_size = 36
        env, extractor = _reacher(size=36), NatureCNN
    else:
        cfg = RLConfig(representation="jepa", checkpoint=str(checkpoint))
        cfg.rl.finetune = True
        env, extractor = _reacher(), representation.JEPAExtractor
    cfg.rl.learning_starts, cfg.rl.batch_size = 20, 4
    model = worldmodel.load(str(checkpoint), device="cpu") if kind == "finetune" else None
    agent = rl.make_agent(sb3, cfg, env, model, decisions=100, device="cpu")
    assert isinstance(agent.policy.critic.features_extractor, extractor)
    assert isinstance(agent.policy.actor.features_extractor, extractor)
    kinds = [type(m).__name__ for m in agent.policy.critic.qf0]
    assert kinds == ["Linear", "Dropout", "LayerNorm", "ReLU"] * 2 + ["Linear"]
    before = [p.detach().clone() for p in agent.policy.critic.qf0.parameters()]
    _quiet_log(agent, tmp_path)
    agent.learn(24)
    assert agent._n_updates == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.policy.critic.qf0.parameters()))


@pytest.mark.parametrize("freeze", [True, False])
def test_extractor_trains_the_encoder_only_when_not_frozen(checkpoint, tmp_path, freeze):
    extractor = representation.JEPAExtractor
    agent = sb3.SAC(
        "CnnPolicy",
        _reacher(),
        buffer_size=200,
        learning_starts=50,
        batch_size=16,
        seed=0,
        policy_kwargs={
            "features_extractor_class": extractor,
            "features_extractor_kwargs": {"checkpoint": str(checkpoint), "freeze": freeze},
        },
    )
    encoder = agent.actor.features_extractor.features.encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    _quiet_log(agent, tmp_path / "log")
    agent.learn(120)
    changed = [k for k, v in encoder.state_dict().items() if not torch.equal(v, before[k])]
    if freeze:
        assert changed == [] and not encoder.training  # BatchNorm statistics included
    else:
        assert any(k.endswith("weight") for k in changed)

    agent.save(tmp_path / "agent.zip")
    again = sb3.SAC.load(tmp_path / "agent.zip", device="cpu")
    assert isinstance(again.actor.features_extractor, extractor)
    for k, v in agent.policy.state_dict().items():
        torch.testing.assert_close(again.policy.state_dict()[k], v)
    obs = agent.observation_space.sample()
    np.testing.assert_allclose(
        agent.predict(obs, deterministic=True)[0], again.predict(obs, deterministic=True)[0]
    )


@pytest.mark.filterwarnings("ignore:.*(infinity|unwrapped version).*:UserWarning")
def test_state_observation_is_the_world_state_features():
    env = StateObservation(_reacher())
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (8,) and obs.dtype == np.float32  # joint sin/cos, target, velocity
    np.testing.assert_allclose(obs[4:6], info["state"][-2:], rtol=1e-6)
    # The probes' derived fingertip and to_target stay out: the baseline is the 8 numbers.
    features = env.unwrapped.state_features(info["state"])
    assert {"fingertip", "to_target"} <= set(features)
    expected = np.concatenate([features[k][0] for k in ("joint_sincos", "target_pos", "velocity")])
    np.testing.assert_allclose(obs, expected, rtol=1e-6)


@pytest.mark.slow
def test_rl_command_writes_curve_and_result_and_evaluates_the_agent_again(
    checkpoint, tmp_path, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    args = [
        "representation=jepa",
        f"checkpoint={checkpoint}",
        "env.image_size=32",
        "rl.steps=400",
        "rl.episode_length=50",
        "rl.learning_starts=20",
        "rl.batch_size=16",
        "rl.eval_episodes=2",
        "seed=3",
        f"run_dir={run_dir}",
        "progress=false",
    ]
    run_cli("agents.rl", *args, cache=tmp_path / "cache")
    with open(run_dir / "curve.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and rows[-1]["env_steps"] == "400"  # 80 decisions, 10 per episode
    assert (run_dir / "curve.png").stat().st_size > 1000
    result = json.loads((run_dir / "result.json").read_text())
    assert result["algo"] == "sac" and result["representation"] == "jepa" and result["seed"] == 3
    assert result["env_steps"] == 400 and result["eval_episodes"] == 2
    assert np.isfinite(result["final_return"]) and result["checkpoint"] == str(checkpoint.resolve())
    assert result["wall_time_s"] > 0
    assert (run_dir / "agent.zip").exists()
    assert (result["critic_dropout"], result["critic_layer_norm"]) == (0.01, True)  # DroQ's

    # The saved agent plays again, more episodes: its first ones replay the final evaluation.
    more = [a for a in args if not a.startswith("rl.eval_episodes=")]
    run_cli(
        "agents.rl", *more, "rl.eval_episodes=3", f"rl.evaluate={run_dir}", cache=tmp_path / "cache"
    )
    again = json.loads((run_dir / "evaluation-3.json").read_text())
    assert again["episodes"] == 3 and again["replays_final_evaluation"] is True
    np.testing.assert_allclose(again["returns"][:2], result["eval_returns"], atol=1e-3)
    # The same episodes (a tiny agent's returns are all near 0, so the starts tell): each one's
    # own random target, and not the training env's (SB3 seeds an agent's env with its seed).
    assert len(result["eval_starts"]) == 2 and result["eval_starts"][0] != result["eval_starts"][1]
    np.testing.assert_allclose(again["starts"][:2], result["eval_starts"], atol=1e-5)
    assert again["mean_return"] == pytest.approx(np.mean(again["returns"]))
    # When each episode's reward came: one entry per episode, none before a first reward.
    assert len(again["reward_timing"]) == 3
    for ret, timing in zip(again["returns"], again["reward_timing"]):
        assert (timing["first"] is None) == (ret <= 0) and timing["exits"] >= 0

    from agents.rl import train as rl
    from agents.rl.config import RLConfig

    training_env, starts = rl.make_vec_env(RLConfig(representation="state"), None, 5, 1, seed=3)
    training_env.reset()
    assert not np.allclose(starts[0], again["starts"][0])

    for extra, expected in [
        (f"rl.evaluate={tmp_path / 'nothing'}", "no agent there"),
        ("representation=state", "its weights do not fit"),  # a jepa agent, a state env
    ]:
        with pytest.raises(SystemExit) as e:
            rl.main([*more, f"rl.evaluate={run_dir}", extra])
        assert e.value.code == 2 and expected in capsys.readouterr().err

    # The jepa policy read 3 frames (the default; the debug model's history is 2). Were the
    # default to change, the same command line still plays the run with its own stack.
    assert result["frame_stack"] == rl.JEPA_FRAME_STACK == 3
    monkeypatch.setattr(rl, "JEPA_FRAME_STACK", 2)
    replay = rl.main([*more, "rl.eval_episodes=2", f"rl.evaluate={run_dir}"])
    np.testing.assert_allclose(replay["returns"], result["eval_returns"], atol=1e-3)
    assert "frame stack 3, the run's" in capsys.readouterr().out

    # The critic is the run's own too: a result.json from before the settings existed means
    # SB3's plain critic, which this agent's weights do not fit, unless the command names it.
    result_file = run_dir / "result.json"
    old = {k: v for k, v in result.items() if not k.startswith("critic_")}
    result_file.write_text(json.dumps(old))
    with pytest.raises(SystemExit):
        rl.main([*more, "rl.eval_episodes=2", f"rl.evaluate={run_dir}"])
    assert "its weights do not fit" in capsys.readouterr().err
    droq = ["rl.critic_dropout=0.01", "rl.critic_layer_norm=true"]
    replay = rl.main([*more, *droq, "rl.eval_episodes=2", f"rl.evaluate={run_dir}"])
    np.testing.assert_allclose(replay["returns"], result["eval_returns"], atol=1e-3)


def test_reward_timing_tells_a_late_arrival_from_sliding_in_and_out():
    from agents.rl.train import reward_timing

    late = np.r_[np.zeros(150), np.full(50, 5.0)]
    sliding = np.tile([5.0, 5.0, 0.0, 0.0], 50)
    assert reward_timing(late) == {"first": 150, "exits": 0}
    assert reward_timing(sliding) == {"first": 0, "exits": 50}
    assert reward_timing(np.zeros(200)) == {"first": None, "exits": 0}
    assert reward_timing(np.r_[np.zeros(199), 1.0]) == {"first": 199, "exits": 0}


def test_missing_sb3_gives_the_install_hint(monkeypatch, capsys):
    from agents.rl import train as rl

    for name in [m for m in sys.modules if m.split(".")[0] == "stable_baselines3"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    with pytest.raises(ImportError, match=r"pip install \"worldmodel\[sb3\]\""):
        representation._extractor_class.__wrapped__()
    with pytest.raises(SystemExit) as e:
        rl.main(["representation=state", "progress=false"])
    assert e.value.code == 2 and SB3_HINT in capsys.readouterr().err


def test_bad_settings_fail_at_start(capsys):
    from agents.rl import train as rl

    with pytest.raises(SystemExit) as e:
        rl.main(["algo=dqn"])
    assert e.value.code == 2 and "choose one of sac, ppo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rl.main(["representation=pixels", "rl.finetune=true"])
    assert "needs representation=jepa" in capsys.readouterr().err
    for args, expected in [
        (["preset=debug"], "preset is not a setting of agents.rl; agents.rl has no size presets"),
        (["eval.episodes=3"], "the final evaluation is rl.eval_episodes="),
        (["representation=pixels", "env.image_size=32"], "needs env.image_size >= 36"),
        (["representation=pixels", "rl.trunk=50"], "rl.trunk is a head on flat features"),
        (["rl.trunk=-1"], "rl.trunk must be >= 0"),
        (["rl.gradient_steps=0"], "rl.gradient_steps must be >= 1"),
        (["rl.train_freq=0"], "rl.train_freq must be >= 1"),
        (["rl.critic_dropout=1.0"], "rl.critic_dropout is a rate in [0, 1), got 1.0"),
        (["algo=ppo", "rl.critic_layer_norm=true"], "algo=ppo has none: set algo=sac"),
    ]:
        with pytest.raises(SystemExit) as e:
            rl.main(args)
        assert e.value.code == 2 and expected in capsys.readouterr().err


def test_checkpoint_of_another_world_is_refused(checkpoint, capsys):
    from agents.rl import train as rl

    with pytest.raises(SystemExit) as e:
        rl.main(["env=point_mass", f"checkpoint={checkpoint}", "progress=false"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "trained on world 'reacher" in err and "env=point_mass" in err


def test_help_says_how_long_it_takes_and_lists_only_its_settings(capsys):
    from agents.rl import train as rl

    with pytest.raises(SystemExit) as e:
        rl.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "1000 env steps take about 280 s (pixels)" in out
    assert "rl.steps=100000" in out and "\n  model." not in out and "\n  preset=" not in out


def test_a_model_that_does_not_code_the_target_is_flagged(
    checkpoint, tmp_path, monkeypatch, capsys
):
    """The reward of reacher-easy depends on the target: a checkpoint whose probe.json says the
    embedding does not code target_pos gets a warning naming the value and the way out."""
    import shutil

    from agents.rl import train as rl
    from agents.rl.config import RLConfig
    from worldmodel.config import EnvConfig

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(checkpoint, run / "checkpoint.pt")
    real_load = rl.load

    def load_as_target_drawn(
        path, device="auto"
    ):  # the tiny model, as if its frames showed the target
        model = real_load(path, device=device)
        model.info["env"]["kwargs"]["draw_target"] = True
        return model

    monkeypatch.setattr(rl, "load", load_as_target_drawn)
    cfg = RLConfig(
        env=EnvConfig(name="reacher", image_size=32, draw_target=True), checkpoint=str(run)
    )

    def warning(r2: float | None) -> str:
        if r2 is not None:
            probe = {"probe_r2": {"target_pos": r2}, "probe_r2_history": {"target_pos": r2}}
            (run / "probe.json").write_text(json.dumps(probe))
        rl._load_checkpoint(cfg, "cpu")
        return capsys.readouterr().out

    assert warning(None) == ""  # no probe.json: nothing is claimed
    out = warning(-0.03)
    assert "does not code where the target is (probe R^2 -0.03" in out
    assert "data.marker_jitter" in out and "rl.finetune=true" in out
    assert "model.encoder=cnn_keypoints model.temporal_weight=0.03" in out
    assert warning(0.95) == ""
    (run / "probe.json").write_text("{not json")
    assert warning(None) == ""  # a corrupt probe.json claims nothing either
