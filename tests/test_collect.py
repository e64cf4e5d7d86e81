"""``python -m worldmodel.collect`` end to end: the data set, resume, determinism, bad input."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import envs
from envs.tasks import PROTOCOL_VERSION
from tests.conftest import REPO, interrupt_cli, run_cli
from worldmodel import data as D
from worldmodel.collect import main

DEBUG = ("preset=debug", "progress=false")
EPISODES, STEPS, SIZE, SHARDS = 4, 12, 32, 2  # configs/preset/debug.yaml


def constant_policy(action_space, rng):
    """A user policy (``data.policy=tests.test_collect:constant_policy``): always the same
    action, half of it out of range so that the stored actions show the clipping."""
    return lambda obs, info: np.array([2.0, -0.5])


def collect(root: Path, *args: str) -> Path:
    """Run the collect command in this process (the subprocess path is tested once below)."""
    return main([*DEBUG, f"data.dir={root}", *args])


def arrays(root: Path) -> dict[str, np.ndarray]:
    """Every array of a data set, concatenated over its shards (checksums verified)."""
    ds = D.EpisodeDataset(root)
    return {k: np.concatenate([getattr(s, k) for s in ds.shards]) for k in D.ARRAYS}


def shard_entries(root: Path) -> list[dict]:
    return json.loads((root / "manifest.json").read_text())["shards"]


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    """The debug data set (seed 0, one worker), collected once by the real command."""
    root = tmp_path_factory.mktemp("collect") / "reference"
    proc = run_cli("worldmodel.collect", *DEBUG, f"data.dir={root}", cache=cache)
    return root, proc


@pytest.fixture
def copy(reference, tmp_path):
    """A copy of the reference data set, to damage."""
    return Path(shutil.copytree(reference[0], tmp_path / "copy"))


@pytest.mark.slow
def test_collect_end_to_end(reference, capsys):
    root, proc = reference
    assert proc.returncode == 0 and "data set ready" in proc.stdout
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["complete"] and manifest["format"] == D.FORMAT
    assert manifest["env"]["name"] == "reacher" and manifest["image_size"] == SIZE
    assert manifest["protocol_version"] == PROTOCOL_VERSION
    assert (manifest["episodes"], manifest["episode_length"]) == (EPISODES, STEPS)
    assert manifest["num_shards"] == len(manifest["shards"]) == SHARDS
    assert manifest["frames"] == EPISODES * (STEPS + 1)
    assert (manifest["state_dim"], manifest["action_dim"]) == (6, 2)
    for entry in manifest["shards"]:
        assert sorted(entry["files"]) == sorted(f"{k}.npy" for k in D.ARRAYS)
        for name, meta in entry["files"].items():
            path = root / entry["name"] / name
            assert meta == {"bytes": path.stat().st_size, "sha256": D.sha256(path)}
    assert not list(root.glob(".*"))  # no temporary files left

    data = arrays(root)
    obs, actions, states = data["obs"], data["actions"], data["states"]
    assert obs.dtype == np.uint8 and obs.shape == (EPISODES, STEPS + 1, SIZE, SIZE, 3)
    assert actions.dtype == np.float32 and actions.shape == (EPISODES, STEPS, 2)
    assert states.dtype == np.float64 and states.shape == (EPISODES, STEPS + 1, 6)
    assert data["rewards"].shape == (EPISODES, STEPS)
    assert np.all(np.abs(actions) <= 1) and obs.std() > 0

    # States follow from the actions, and frames show the states.
    env = envs.make("reacher", image_size=SIZE)
    try:
        for e in (0, EPISODES - 1):
            for t in (0, STEPS - 1):
                nxt = env.simulate(states[e, t], actions[e, t][None, None])[0, 0]
                np.testing.assert_allclose(nxt, states[e, t + 1], rtol=0, atol=1e-6)
            np.testing.assert_array_equal(env.render_state(states[e, STEPS]), obs[e, STEPS])
    finally:
        env.close()

    collect(root)  # the same command again reuses the data set
    assert "reused" in capsys.readouterr().out
    assert shard_entries(root) == manifest["shards"]


def test_resume_redoes_only_the_missing_shard(reference, copy, capsys):
    # What an interruption during the second shard leaves: shard 0 recorded, a partial write.
    shutil.rmtree(copy / "shard_00001")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:1]
    manifest["complete"] = False
    D.write_manifest(copy, manifest)
    stale = copy / ".shard_00001.x1y2.tmp"
    stale.mkdir()
    (stale / "obs.npy").write_bytes(b"half a file")
    kept = mtimes(copy / "shard_00000")

    collect(copy)
    assert "resuming collection" in capsys.readouterr().out
    assert mtimes(copy / "shard_00000") == kept  # not collected again
    assert not stale.exists()
    # Shards are seeded by (seed, shard index): equal, byte for byte, to an uninterrupted run.
    assert shard_entries(copy) == shard_entries(reference[0])
    for name in ("obs.npy", "actions.npy", "states.npy", "rewards.npy"):
        ref = (reference[0] / "shard_00001" / name).read_bytes()
        assert (copy / "shard_00001" / name).read_bytes() == ref


def test_orphan_shard_adopted_and_foreign_folders_ignored(reference, copy):
    # The second shard was renamed into place, but the manifest was not yet rewritten.
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:1]
    manifest["complete"] = False
    D.write_manifest(copy, manifest)
    shutil.copytree(copy / "shard_00001", copy / "shard_00007")  # not a shard of this set
    (copy / ".manifest.json.abc.tmp").write_text("{")
    kept = mtimes(copy / "shard_00001")

    collect(copy)
    assert mtimes(copy / "shard_00001") == kept  # adopted, not collected again
    assert shard_entries(copy) == shard_entries(reference[0])
    assert not (copy / ".manifest.json.abc.tmp").exists()
    assert D.EpisodeDataset(copy).num_episodes == EPISODES


def test_corrupt_shard_named_then_redone_after_deleting_it(reference, copy):
    path = copy / "shard_00001" / "obs.npy"
    raw = bytearray(path.read_bytes())
    raw[-100:-90] = bytes(b ^ 0xFF for b in raw[-100:-90])
    path.write_bytes(bytes(raw))
    with pytest.raises(D.DatasetError, match=r"shard_00001/obs\.npy: checksum mismatch"):
        D.EpisodeDataset(copy)
    # The error says to delete the shard folder and rerun collect: that must work.
    shutil.rmtree(copy / "shard_00001")
    collect(copy)
    assert path.read_bytes() == (reference[0] / "shard_00001" / "obs.npy").read_bytes()
    assert shard_entries(copy) == shard_entries(reference[0])


def test_same_seed_same_data_other_seed_other_data(reference, tmp_path):
    ref = D.EpisodeDataset(reference[0]).shards[0]
    collect(tmp_path / "s0", "data.episodes=2")  # one shard: shard 0 of the reference
    collect(tmp_path / "s1", "data.episodes=2", "seed=1")
    same, other = (
        D.EpisodeDataset(tmp_path / "s0").shards[0],
        D.EpisodeDataset(tmp_path / "s1").shards[0],
    )
    for key in D.ARRAYS:
        np.testing.assert_array_equal(getattr(same, key), getattr(ref, key))
    for key in ("obs", "actions", "states"):
        assert not np.array_equal(getattr(other, key), getattr(ref, key))


def test_data_seed_names_the_episodes_apart_from_the_run_seed(reference, copy, tmp_path):
    before = shard_entries(copy)
    collect(copy, "seed=1", "data.seed=0")  # a second training seed reuses seed 0's episodes
    assert shard_entries(copy) == before
    collect(tmp_path / "d1", "data.episodes=2", "data.seed=1")  # data.seed alone draws them
    ref = D.EpisodeDataset(reference[0]).shards[0]
    assert not np.array_equal(D.EpisodeDataset(tmp_path / "d1").shards[0].actions, ref.actions)


def test_a_grown_data_set_reuses_the_smaller_ones_shards(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLDMODEL_CACHE", str(tmp_path / "cache"))  # no other test's data sets
    small = main([*DEBUG, "data.episodes=4"])
    big = main([*DEBUG, "data.episodes=6"])
    assert f"reusing 2 shards of {small}" in capsys.readouterr().out
    # linked, not collected again ...
    assert (big / "shard_00000" / "obs.npy").samefile(small / "shard_00000" / "obs.npy")
    # ... and the same data as a collection of 6 from scratch (data.dir= never reuses)
    fresh = arrays(collect(tmp_path / "fresh", "data.episodes=6"))
    for key, value in arrays(big).items():
        np.testing.assert_array_equal(value, fresh[key])
    # other settings are not the same data: nothing reused
    main([*DEBUG, "data.episodes=6", "seed=1"])
    assert "reusing" not in capsys.readouterr().out
    # a shard whose file no longer matches its checksum is collected again, not linked
    with open(small / "shard_00001" / "rewards.npy", "r+b") as f:  # also big's: the same file
        f.seek(-1, 2)
        f.write(b"\x7f")
    grown = main([*DEBUG, "data.episodes=8"])
    assert "reusing 2 shards of" in capsys.readouterr().out  # big's shards 0 and 2
    assert not (grown / "shard_00001" / "obs.npy").samefile(big / "shard_00001" / "obs.npy")
    D.EpisodeDataset(grown)  # every checksum verifies


@pytest.mark.slow
def test_two_workers_give_the_same_data(reference, tmp_path):
    root = tmp_path / "two"
    collect(root, "data.workers=2")
    assert shard_entries(root) == shard_entries(reference[0])


def test_unknown_env_lists_choices(cache, tmp_path):
    proc = run_cli(
        "worldmodel.collect", *DEBUG, "env=nope", f"data.dir={tmp_path}", cache=cache, check=False
    )
    bad_domain = run_cli(
        "worldmodel.collect", *DEBUG, "env=dmc", "env.domain=foo", cache=cache, check=False
    )
    assert "unknown dm_control domain 'foo'" in bad_domain.stderr
    assert not any("foo" in p.name for p in (cache / "data").glob("*"))  # no empty folder
    assert proc.returncode == 2
    assert "nope" in proc.stderr and all(
        w in proc.stderr for w in ("reacher", "point_mass", "wall")
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("seed=1",), "seed=0"),
        (("data.episodes=6",), "episodes=4"),
        (("env.image_size=48",), "env="),
    ],
)
def test_data_set_of_other_settings_rejected(reference, copy, capsys, args, field):
    with pytest.raises(SystemExit) as exit_info:
        collect(copy, *args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "manifest.json: this data set was collected with " + field in err
    assert "choose another data.dir" in err


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("bad", "data.policy='bad' is neither 'random' nor 'package.module:factory'"),
        ("no_such_module:make", "data.policy='no_such_module:make' cannot be imported"),
        ("tests.test_collect:nothing", "cannot be imported"),
    ],
)
def test_bad_policy_fails_fast(tmp_path, capsys, policy, message):
    with pytest.raises(SystemExit) as exit_info:
        collect(tmp_path, f"data.policy={policy}", "data.workers=2")
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "manifest.json").exists()  # nothing collected


@pytest.mark.slow
def test_user_policy_in_spawned_workers(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the factory's module, in every worker
    root = tmp_path / "user"
    run_cli(
        "worldmodel.collect",
        *DEBUG,
        f"data.dir={root}",
        "data.policy=tests.test_collect:constant_policy",
        "data.workers=2",
        cache=cache,
        cwd=tmp_path,
    )
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["policy"] == {"name": "tests.test_collect:constant_policy"}
    actions = arrays(root)["actions"]
    assert actions.shape == (EPISODES, STEPS, 2)
    np.testing.assert_array_equal(actions, np.broadcast_to([1.0, -0.5], actions.shape))


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_keeps_finished_shards_in_one_line(cache, tmp_path, signum, status):
    """Ctrl-C, and SIGTERM (``kill``, a scheduler) the same way, with their own exit status."""
    root = tmp_path / "data"
    out = interrupt_cli(
        "worldmodel.collect",
        *DEBUG,
        "data.episodes=400",
        "data.workers=2",
        f"data.dir={root}",
        cache=cache,
        ready=lambda: bool((D.read_manifest(root) or {}).get("shards")),
        signum=signum,
    )
    assert out.returncode == status and "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert out.stderr.count("interrupted:") == 1 and line.startswith("interrupted:")
    assert "shards are kept in" in line and "rerun the same command to resume" in line
    assert not D.read_manifest(root)["complete"]


def test_a_world_whose_physics_changed_gets_new_data_set_names():
    from worldmodel.collect import dataset_identity, default_data_dir
    from worldmodel.config import DataConfig, EnvConfig

    data = DataConfig()
    wall, reacher = EnvConfig(name="wall"), EnvConfig(name="reacher")
    assert dataset_identity(wall, data, 0)["world_revision"] == envs.REVISIONS["wall"] >= 2
    # an unchanged world keeps the identity (and cached data sets) it always had
    assert "world_revision" not in dataset_identity(reacher, data, 0)
    # a dm_control domain can have its own revision; the other domains keep theirs
    swimmer = EnvConfig(name="dmc", domain="swimmer", task="swimmer6")
    assert (
        dataset_identity(swimmer, data, 0)["world_revision"]
        == envs.world_revision("dmc", "swimmer")
        >= 2
    )
    cartpole = EnvConfig(name="dmc", domain="cartpole", task="swingup")
    assert "world_revision" not in dataset_identity(cartpole, data, 0)
    old = dict(dataset_identity(wall, data, 0))
    old.pop("world_revision")
    import hashlib

    digest = hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:8]
    assert not default_data_dir(wall, data, 0).name.endswith(digest)


def test_hindsight_episodes_show_the_goal_marker_on_the_body(cache, tmp_path, capsys):
    root = collect(tmp_path / "hs", "env=point_mass", "data.hindsight=1")
    got = arrays(root)
    states, obs = got["states"], got["obs"]  # [E, T+1, S], [E, T+1, H, W, 3]
    env = envs.make("point_mass", image_size=SIZE)
    try:
        for e in range(len(states)):
            # one marker place per episode, where the mass is at one of its steps
            assert np.allclose(states[e, :, -2:], states[e, 0, -2:])
            gap = np.linalg.norm(states[e, :, :2] - states[e, :, -2:], axis=-1)
            assert gap.min() < 1e-9
            # the stored frames are the frames of the stored (marked) states
            for t in (0, int(gap.argmin()), STEPS):
                assert np.array_equal(obs[e, t], env.render_state(states[e, t]))
    finally:
        env.close()
    from worldmodel.collect import dataset_identity
    from worldmodel.config import DataConfig, EnvConfig

    plain = dataset_identity(EnvConfig(name="point_mass"), DataConfig(), 0)
    assert "hindsight" not in plain  # data sets without it keep their cached names
    marked = dataset_identity(EnvConfig(name="point_mass"), DataConfig(hindsight=0.5), 0)
    assert marked["hindsight"] == 0.5


def test_jittered_markers_move_every_frame_and_frames_match(cache, tmp_path):
    root = collect(tmp_path / "jit", "env=reacher", "env.draw_target=true", "data.marker_jitter=1")
    got = arrays(root)
    states, obs = got["states"], got["obs"]  # [E, T+1, S], [E, T+1, H, W, 3]
    env = envs.make("reacher", image_size=SIZE, draw_target=True)
    try:
        for e in range(len(states)):
            target = states[e, :, -2:]  # [T+1, 2]: a fresh place in every frame
            assert (np.linalg.norm(np.diff(target, axis=0), axis=-1) > 1e-6).all()
            radius = np.linalg.norm(target, axis=-1)
            assert ((radius >= 0.05 - 1e-9) & (radius <= 0.20 + 1e-9)).all()  # as dm_control
            for t in (0, STEPS // 2, STEPS):
                assert np.array_equal(obs[e, t], env.render_state(states[e, t]))
        # the arm's motion is untouched: the first episode (before any jitter draw) is the
        # plain data set's first episode but for the marker
        plain = arrays(
            collect(
                tmp_path / "plain", "env=reacher", "env.draw_target=true", "data.marker_jitter=0"
            )
        )
        assert np.array_equal(plain["states"][0, :, :-2], states[0, :, :-2])
        assert not np.allclose(plain["states"][0, :, -2:], states[0, :, -2:])
    finally:
        env.close()
    from worldmodel.collect import dataset_identity
    from worldmodel.config import DataConfig, EnvConfig

    jittered = dataset_identity(EnvConfig(name="reacher"), DataConfig(marker_jitter=0.5), 0)
    assert jittered["marker_jitter"] == 0.5
    assert "marker_jitter" not in dataset_identity(EnvConfig(name="reacher"), DataConfig(), 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("env=reacher", "data.marker_jitter=0.5"), "draws no marker to redraw"),
        (("env=dmc", "data.marker_jitter=0.5"), "draws no marker to redraw"),
        (("env=point_mass", "data.marker_jitter=2"), "share of episodes"),
        (("env=point_mass", "data.hindsight=0.6", "data.marker_jitter=0.6"), "sum must be"),
        (("env=wall", "data.hindsight=0.5"), "draws no goal marker"),
        (("env=reacher", "data.hindsight=0.5"), "draws no goal marker"),
        (("env=point_mass", "data.hindsight=1.5"), "share of episodes"),
    ],
)
def test_hindsight_refused_where_it_cannot_apply(cache, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        collect(tmp_path / "no", *args)
    assert not (tmp_path / "no").exists()  # refused settings leave no folder behind
    assert message in capsys.readouterr().err
