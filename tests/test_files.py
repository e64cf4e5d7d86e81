"""Files a user hands us or we write: wrong files named clearly, named clearly."""

from __future__ import annotations

import json

import pytest
import torch

import worldmodel
from tests.conftest import run_cli
from tests.test_data import write_dataset
from worldmodel import checkpoint as ckpt
from worldmodel import data as D


@pytest.mark.parametrize("content", [b"hello\n", b"e", b"", b"{}", b"\x80\x02}q\x00."])
def test_file_that_is_not_a_checkpoint_is_named(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)  # b"hello" made torch.load raise KeyError: 101
    with pytest.raises(ckpt.CheckpointError, match=r"notes.txt: not a worldmodel checkpoint"):
        ckpt.read(path)
    with pytest.raises(ckpt.CheckpointError, match=r"notes.txt: not a worldmodel checkpoint"):
        worldmodel.load(str(path), device="cpu")


def test_checkpoint_without_its_parts_is_named(tmp_path):
    path = tmp_path / "partial.pt"
    ckpt.save(path, {"model": {"w": torch.zeros(2)}})
    with pytest.raises(ckpt.CheckpointError, match=r"partial.pt: checkpoint lacks config, env"):
        worldmodel.load(str(path), device="cpu")


def test_text_checkpoint_on_the_command_line_is_one_line(tmp_path, cache):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    out = run_cli("worldmodel.probe", f"checkpoint={path}", cache=cache, check=False)
    assert out.returncode == 2, out.stderr
    assert f"{path}: not a worldmodel checkpoint" in out.stderr
    assert "Traceback" not in out.stderr and "KeyError" not in out.stderr


@pytest.mark.parametrize("lie", [7, 3])
def test_manifest_whose_episode_length_lies_is_named(tmp_path, lie):
    write_dataset(tmp_path)  # episodes of 5 steps
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["episode_length"] = lie
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(D.DatasetError) as err:
        D.EpisodeDataset(tmp_path)
    message = str(err.value)
    assert "manifest.json: episode_length=" + str(lie) in message
    assert "shard_00000/actions.npy holds episodes of 5 steps" in message


def test_manifest_whose_episode_count_lies_is_named(tmp_path):
    write_dataset(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["shards"][1]["episodes"] = 9
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        D.DatasetError, match="lists 9 episodes for shard_00001 but its arrays hold 3"
    ):
        D.EpisodeDataset(tmp_path)
