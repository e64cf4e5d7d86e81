"""One typed config per command: own fields only, each documented, every value checked."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from agents.evaluation.config import EvaluateConfig
from agents.rl.config import RLConfig
from worldmodel.config import (
    WORLDS,
    CollectConfig,
    Config,
    ModelConfig,
    ProbeConfig,
    sequence_length,
)
from worldmodel.runtime.cli import load_config
from worldmodel.runtime.errors import ConfigError
from worldmodel.runtime.paths import configs_dir
from worldmodel.runtime.schema import field_docs, leaf_paths, section_type
from worldmodel.train import RUNTIME

COMMANDS = {
    "worldmodel.collect": ("config", CollectConfig),
    "worldmodel.train": ("config", Config),
    "worldmodel.probe": ("probe", ProbeConfig),
    "agents.evaluate": ("evaluate", EvaluateConfig),
    "agents.rl": ("rl", RLConfig),
}


def _sections(cls: type):
    yield cls
    for f in dataclasses.fields(cls):
        sub = section_type(cls, f.name)
        if sub is not None:
            yield from _sections(sub)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_field_has_a_doc_line(name):
    for cls in _sections(COMMANDS[name][1]):
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, f"{cls.__name__}: {missing}"


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("preset", ["debug", "cpu", "gpu"])
def test_every_preset_composes_for_every_command(name, preset):
    config_name, schema = COMMANDS[name]
    args = [] if name == "agents.rl" else [f"preset={preset}"]
    cfg = load_config(args, config_name=config_name, schema=schema, name=name)
    assert isinstance(cfg, schema)
    if preset == "debug" and name == "agents.evaluate":
        assert cfg.eval.episodes == 2 and cfg.planner.samples == 16


def test_every_yaml_key_belongs_to_some_command():
    """A preset sizes the whole pipeline and each command keeps its part; a key that no command
    has would be silently dropped, so it must not exist."""
    known = {path for _, schema in COMMANDS.values() for path, _ in leaf_paths(schema)}
    groups = {"env": "env.", "planner": "planner.", "preset": "", "eval_size": ""}

    def keys(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from keys(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    for group, prefix in groups.items():
        for path in (configs_dir() / group).glob("*.yaml"):
            values = OmegaConf.to_container(OmegaConf.load(path))
            top = path.read_text().startswith("# @package _global_")
            unknown = [k for k in keys(values, "" if top else prefix) if k not in known]
            assert not unknown, f"{path}: {unknown}"


def test_help_shows_only_the_commands_own_fields_with_docs_and_choices(capsys):
    with pytest.raises(SystemExit) as e:
        load_config(
            ["--help"], config_name="evaluate", schema=EvaluateConfig, name="agents.evaluate"
        )
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "eval.seed=0" in out and "Seed of the task's episode list" in out
    assert "cost.weighting=all  [all | last]" in out and "planner=cem |" in out
    for other in ("model.", "train.", "data.", "env.", "logger=", "seed="):
        assert f"\n  {other}" not in out


def test_world_choices_match_the_envs():
    import envs

    assert tuple(WORLDS) == tuple(envs.WORLDS)


def test_runtime_fields_come_from_the_schema():
    run_section = {f.name for f in dataclasses.fields(Config) if f.name in ("device", "logger")}
    assert run_section <= RUNTIME and "resume" in RUNTIME and "train.threads" in RUNTIME
    assert not {"seed", "preset", "model.embed_dim", "train.steps", "env.name"} & RUNTIME


@pytest.mark.parametrize(
    ("args", "jitter"),
    [
        ([], 0.0),  # the pose world: no target drawn
        (["env.draw_target=true"], 1.0),
        (["env=dmc", "env.domain=reacher", "env.task=easy"], 1.0),
        (["env=dmc", "env.domain=finger", "env.task=turn_easy"], 0.0),  # not measured: off
        (["env=point_mass"], 1.0),  # part of its world recipe
        (["env=wall"], 0.0),
        (["env.draw_target=true", "data.hindsight=0.25"], 0.75),  # shares stay disjoint
        (["env.draw_target=true", "data.marker_jitter=0"], 0.0),  # an override wins
    ],
)
def test_marker_jitter_default_follows_the_world(args, jitter):
    for schema in (Config, CollectConfig):
        assert load_config(args, schema=schema).data.marker_jitter == jitter


def test_a_checkpoint_from_before_marker_jitter_reads_as_without_it():
    from worldmodel.checkpoint import config_from_dict

    stored = dataclasses.asdict(load_config(["env.draw_target=true"], schema=Config))
    assert stored["data"]["marker_jitter"] == 1.0
    assert config_from_dict(stored).data.marker_jitter == 1.0
    del stored["data"]["marker_jitter"]  # as written before the setting existed
    assert config_from_dict(stored).data.marker_jitter == 0.0


@pytest.mark.parametrize(
    ("args", "encoder", "temporal", "sigreg"),
    [
        ([], "cnn", 0.0, 0.03),  # reacher, target hidden: WORLD_RECIPES
        (["env.draw_target=true"], "cnn", 0.0, 0.1),  # reacher-target: a world of its own
        (["env=point_mass"], "keypoints", 0.0, 0.003),  # WORLD_RECIPES
        (["env=point_mass", "model.encoder=cnn"], "cnn", 0.0, 0.003),  # an override wins
        (["env=point_mass", "model.sigreg_weight=0.1"], "keypoints", 0.0, 0.1),
        (["env=point_mass", "model.temporal_weight=0.1"], "keypoints", 0.1, 0.003),
        (["env=point_mass", "model.objective=reconstruction"], "cnn", 0.0, 0.1),  # JEPA's only
        (["env=wall"], "cnn", 0.0, 0.1),
        (["env=dmc", "env.domain=cheetah", "env.task=run"], "cnn_keypoints", 0.0, 0.1),
        (["env=dmc", "env.domain=cheetah", "env.task=run", "model.encoder=cnn"], "cnn", 0.0, 0.1),
        (["env=dmc", "env.domain=cheetah", "env.task=walk"], "cnn", 0.0, 0.1),  # run only
    ],
)
def test_model_defaults_follow_the_world_recipe(args, encoder, temporal, sigreg):
    model = load_config(args, schema=Config).model
    assert (model.encoder, model.temporal_weight, model.sigreg_weight) == (
        encoder,
        temporal,
        sigreg,
    )


@pytest.mark.parametrize(
    ("args", "history", "action_history"),
    [
        ([], 2, True),  # reacher, target hidden
        (["env.draw_target=true"], 2, False),
        (["env=wall"], 2, False),  # no recipe of its own: the generic one
        (["env=point_mass"], 4, True),  # WORLD_RECIPES
        (["env=point_mass", "model.history=3"], 3, True),  # an override wins, field by field
        (["env=point_mass", "model.action_history=false"], 4, False),
        (["env=point_mass", "model.history=1"], 1, False),  # one frame: nothing in between
        (["env=reacher", "model.action_history=false"], 2, False),
        (["env=point_mass", "model.objective=reconstruction"], 2, False),  # JEPA's only
    ],
)
def test_history_defaults_follow_the_world_recipe(args, history, action_history):
    model = load_config(args, schema=Config).model
    assert (model.history, model.action_history) == (history, action_history)


@pytest.mark.parametrize(
    ("args", "contrast", "rollout_steps"),
    [
        ([], 0.0, 3),  # reacher: the generic recipes
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer6"], 10.0, 6),  # both recipes
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer6", "train.rollout_steps=2"], 10.0, 2),
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer6", "model.contrast_weight=0"], 0, 6),
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer15"], 0.0, 3),  # swimmer6 only
        # a reconstruction model takes neither world recipe
        (
            [
                "env=dmc",
                "env.domain=swimmer",
                "env.task=swimmer6",
                "model.objective=reconstruction",
            ],
            0.0,
            3,
        ),
    ],
)
def test_contrast_and_rollout_defaults_follow_the_world_recipes(args, contrast, rollout_steps):
    cfg = load_config(args, schema=Config)
    assert (cfg.model.contrast_weight, cfg.train.rollout_steps) == (contrast, rollout_steps)
    assert sequence_length(cfg) == cfg.model.history + rollout_steps
    # swimmer6's recipe sharpens its contrast; every other world keeps the generic temperature
    swimmer6_jepa = "env.task=swimmer6" in args and "model.objective=reconstruction" not in args
    assert cfg.model.contrast_temperature == (0.01 if swimmer6_jepa else 0.1)
    # and refits its predictor alone after the joint training
    assert cfg.train.refit_steps == (800 if swimmer6_jepa else 0)
    # with SIGReg at 0.03 (reacher, target hidden, too); the generic 0.1 elsewhere
    assert cfg.model.sigreg_weight == (0.03 if swimmer6_jepa or not args else 0.1)


SWIMMER6 = ["env=dmc", "env.domain=swimmer", "env.task=swimmer6"]


@pytest.mark.parametrize(
    ("args", "steps"),
    [
        ([], 3000),  # reacher: the generic count
        (SWIMMER6, 9000),  # WORLD_TRAIN_RECIPES
        ([*SWIMMER6, "train.steps=3000"], 3000),  # an override wins
        ([*SWIMMER6, "model.objective=reconstruction"], 3000),  # a JEPA's recipe only
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer15"], 3000),  # swimmer6 only
        ([*SWIMMER6, "preset=debug"], 6),  # a preset's count wins
        ([*SWIMMER6, "preset=gpu"], 10000),
    ],
)
def test_training_steps_follow_the_world_recipe(args, steps):
    cfg = load_config(args, schema=Config)
    assert cfg.train.steps == steps


@pytest.mark.parametrize(
    ("args", "episodes"),
    [
        ([], 300),  # reacher: the generic data size
        (["env=point_mass"], 300),
        (SWIMMER6, 1200),  # WORLD_DATA_RECIPES
        ([*SWIMMER6, "data.episodes=300"], 300),  # an override wins
        ([*SWIMMER6, "model.objective=reconstruction"], 1200),  # the data is the world's, any model
        (["env=dmc", "env.domain=swimmer", "env.task=swimmer15"], 300),  # swimmer6 only
        ([*SWIMMER6, "preset=debug"], 4),  # a preset's size wins
        ([*SWIMMER6, "preset=gpu"], 1200),  # the gpu preset keeps the world's data
        (["preset=gpu"], 300),
    ],
)
def test_data_size_follows_the_world_recipe(args, episodes):
    from worldmodel.collect import default_data_dir
    from worldmodel.config import DataConfig

    cfg = load_config(args, schema=Config)
    assert cfg.data.episodes == episodes
    # collect finds the data set train looks for: both resolve the size the same way
    collect_cfg = load_config(
        [a for a in args if a.startswith(("env", "data", "preset"))], schema=CollectConfig
    )
    assert collect_cfg.data.episodes == episodes
    name = default_data_dir(cfg.env, cfg.data, 0).name
    assert f"-{episodes}x{cfg.data.episode_length}-" in name
    # a data config left unresolved names the same folder (its size is the world's)
    if not any(a.startswith(("data.", "preset")) for a in args):
        assert default_data_dir(cfg.env, DataConfig(), 0) == default_data_dir(cfg.env, cfg.data, 0)


def test_contrast_temperature_override_wins_and_is_checked(capsys):
    swimmer = ["env=dmc", "env.domain=swimmer", "env.task=swimmer6"]
    cfg = load_config([*swimmer, "model.contrast_temperature=0.1"], schema=Config)
    assert cfg.model.contrast_temperature == 0.1
    with pytest.raises(SystemExit):  # a command names the field and the bound
        load_config([*swimmer, "model.contrast_temperature=0"], schema=Config)
    assert "model.contrast_temperature must be > 0" in capsys.readouterr().err


def test_an_action_history_needs_actions_between_frames(capsys):
    with pytest.raises(ConfigError, match="model.history=1 has none"):
        ModelConfig(history=1, action_history=True)
    with pytest.raises(SystemExit):  # a command names it too
        load_config(["env=reacher", "model.history=1", "model.action_history=true"], schema=Config)
    assert "set model.history=2 or more" in capsys.readouterr().err


def test_a_model_config_without_a_world_builds_the_generic_recipe():
    from worldmodel.model import JEPA

    jepa = JEPA(ModelConfig(channels=8, embed_dim=16, hidden=32, depth=2), 32, 2)
    assert jepa.cfg.encoder == "cnn" and jepa.cfg.sigreg_weight == 0.1
    assert (jepa.history, jepa.action_history) == (2, False)
    with pytest.raises(ConfigError, match="model.encoder='nope' is unknown"):
        ModelConfig(encoder="nope")
