"""Episode shards: round trip, lazy loading, corrupt/truncated/mismatched data rejected clearly."""

import json

import numpy as np
import pytest
import torch

from worldmodel import data as D


def make_arrays(episodes=3, steps=5, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.integers(0, 256, (episodes, steps + 1, size, size, 3), dtype=np.uint8),
        "actions": rng.uniform(-1, 1, (episodes, steps, 2)).astype(np.float32),
        "states": rng.normal(size=(episodes, steps + 1, 4)),
        "rewards": rng.uniform(size=(episodes, steps)).astype(np.float32),
    }


def write_dataset(root, shards=2, **kw):
    manifest = D.new_manifest(image_size=8, action_repeat=1, episode_length=5, num_shards=shards)
    arrays = [make_arrays(seed=i, **kw) for i in range(shards)]
    for i, a in enumerate(arrays):
        manifest["shards"].append(D.write_shard(root, i, a))
    manifest.update(complete=True, frames=shards * 3 * 6, action_dim=2)
    D.write_manifest(root, manifest)
    return arrays


def test_round_trip_is_exact_and_lazy(tmp_path):
    arrays = write_dataset(tmp_path)
    ds = D.EpisodeDataset(tmp_path)
    assert ds.num_episodes == 6
    assert isinstance(ds.shards[0].obs, np.memmap)  # nothing read until asked for
    ep = ds.episode(4)  # shard 1, episode 1
    for key in D.ARRAYS:
        np.testing.assert_array_equal(getattr(ep, key), arrays[1][key][1])
    obs, act = ds.sample(np.random.default_rng(0), np.arange(6), batch=7, length=3)
    assert obs.shape == (7, 3, 8, 8, 3) and obs.dtype == np.uint8
    assert act.shape == (7, 2, 2)
    train, val = ds.split(0.34)
    assert len(val) == 2 and set(train) | set(val) == set(range(6))


def test_no_temporary_files_left(tmp_path):
    write_dataset(tmp_path)
    assert not list(tmp_path.glob(".*"))


def test_corrupt_shard_named(tmp_path):
    write_dataset(tmp_path)
    path = tmp_path / "shard_00001" / "obs.npy"
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(D.DatasetError, match=r"shard_00001/obs.npy: checksum mismatch"):
        D.EpisodeDataset(tmp_path)


def test_truncated_shard_named(tmp_path):
    write_dataset(tmp_path)
    path = tmp_path / "shard_00000" / "actions.npy"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(D.DatasetError, match=r"shard_00000/actions.npy: .*truncated"):
        D.EpisodeDataset(tmp_path, verify=False)


def test_missing_or_broken_manifest(tmp_path):
    with pytest.raises(D.DatasetError, match="no manifest.json"):
        D.EpisodeDataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(D.DatasetError, match="not valid JSON"):
        D.EpisodeDataset(tmp_path)


def test_incomplete_and_mismatched(tmp_path):
    write_dataset(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    with pytest.raises(D.DatasetError, match="image_size=8 but 64"):
        D.EpisodeDataset(tmp_path, expect={"image_size": 64})
    manifest["complete"] = False
    D.write_manifest(tmp_path, manifest)
    with pytest.raises(D.DatasetError, match="incomplete"):
        D.EpisodeDataset(tmp_path)


def test_sequences_longer_than_episodes_rejected(tmp_path):
    write_dataset(tmp_path)
    ds = D.EpisodeDataset(tmp_path)
    with pytest.raises(D.DatasetError, match="do not fit"):
        ds.sample(np.random.default_rng(0), np.arange(6), batch=2, length=9)


def test_shift_moves_each_sequence_by_one_offset_and_repeats_edges():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(16, 3, 10, 12, 3), dtype=np.uint8)
    assert D.shift_sequences(frames, 0, rng) is frames
    shifted = D.shift_sequences(frames, 2, np.random.default_rng(1))
    assert shifted.shape == frames.shape and shifted.dtype == np.uint8
    offsets = set()
    for b in range(16):
        # exactly one offset explains the inner pixels of every frame of the sequence
        fits = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(
                shifted[b, :, 2:8, 2:10], frames[b, :, 2 + dy : 8 + dy, 2 + dx : 10 + dx]
            )
        ]
        assert len(fits) == 1
        dy, dx = fits[0]
        offsets.add(fits[0])
        # pixels shifted in from outside repeat the frame's edge
        if dy < 0:
            np.testing.assert_array_equal(shifted[b, :, 0], shifted[b, :, -dy])
        if dx > 0:
            rows = np.clip(np.arange(10) + dy, 0, 9)
            np.testing.assert_array_equal(shifted[b, :, :, -1], frames[b][:, rows, -1])
    assert len(offsets) > 3  # offsets differ between sequences


@pytest.mark.parametrize("shift", [0, 2])
def test_batches_held_in_device_memory_equal_those_read_from_disk(tmp_path, shift):
    """DeviceEpisodes draws from the generator as sample + shift_sequences do, so one generator
    state gives the same frames and actions, on a subset of episodes spread over two shards."""
    write_dataset(tmp_path)
    ds = D.EpisodeDataset(tmp_path)
    episodes = np.array([0, 2, 3, 5])
    held = D.DeviceEpisodes(ds, episodes, torch.device("cpu"))
    assert held.obs.shape == (4, 6, 8, 8, 3) and held.actions.shape == (4, 5, 2)
    assert D.DeviceEpisodes.nbytes(ds, 4) == held.obs.nbytes + held.actions.nbytes
    disk_rng, held_rng = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):
        frames, actions = ds.sample(disk_rng, episodes, batch=16, length=4)
        frames = D.shift_sequences(frames, shift, disk_rng)
        obs, act = held.sample(held_rng, batch=16, length=4, shift=shift)
        assert obs.dtype == torch.uint8 and act.dtype == torch.float32
        np.testing.assert_array_equal(obs.numpy(), frames)
        np.testing.assert_array_equal(act.numpy(), actions)
    assert disk_rng.bit_generator.state == held_rng.bit_generator.state
