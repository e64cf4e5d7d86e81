"""Files a user hands us or we write: wrong files named clearly, a full disk leaves nothing half."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import worldmodel
from tests.conftest import run_cli
from tests.test_data import make_arrays, write_dataset
from worldmodel import checkpoint as ckpt
from worldmodel import data as D
from worldmodel.runtime.atomic import DiskFullError
from worldmodel.runtime.errors import InputError


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


def _fill_then_fail(real):
    """Wrap a writer so it writes part of its data, then fails as a full disk does."""

    def write(target, data, *args, **kwargs):
        if isinstance(target, Path):
            real(target, data[: len(data) // 2], *args, **kwargs)
        else:  # an open file
            target.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_full_disk_while_saving_a_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    ckpt.save(path, {"step": 1})
    before = path.read_bytes()
    monkeypatch.setattr(Path, "write_bytes", _fill_then_fail(Path.write_bytes))
    with pytest.raises(DiskFullError) as err:
        ckpt.save(path, {"step": 2})
    message = str(err.value)
    assert isinstance(err.value, InputError) and "\n" not in message
    assert f"{path}: no space left on the disk" in message and "nothing half-written" in message
    assert path.read_bytes() == before and _leftovers(tmp_path) == []  # old file kept whole


def test_full_disk_while_writing_a_shard_or_manifest(tmp_path, monkeypatch):
    arrays = make_arrays()
    with monkeypatch.context() as m:
        m.setattr(np, "save", _fill_then_fail(np.save))
        with pytest.raises(DiskFullError, match=r"shard_00000: no space left on the disk"):
            D.write_shard(tmp_path, 0, arrays)
    assert list(tmp_path.iterdir()) == []  # no temporary shard folder left
    manifest = D.new_manifest(episode_length=5)
    D.write_manifest(tmp_path, manifest)
    before = (tmp_path / "manifest.json").read_text()
    with monkeypatch.context() as m:
        m.setattr(Path, "write_text", _fill_then_fail(Path.write_text))
        with pytest.raises(DiskFullError, match=r"manifest.json: no space left on the disk"):
            D.write_manifest(tmp_path, {**manifest, "complete": True})
    assert (tmp_path / "manifest.json").read_text() == before
    assert _leftovers(tmp_path) == []


def test_other_write_errors_keep_their_type(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(OSError) as err:
        ckpt.save(tmp_path / "checkpoint.pt", {"step": 1})
    assert not isinstance(err.value, DiskFullError) and _leftovers(tmp_path) == []


def test_full_disk_during_collect_is_one_line(tmp_path, monkeypatch, capsys, cache):
    from worldmodel.collect import main

    monkeypatch.setattr(np, "save", _fill_then_fail(np.save))
    with pytest.raises(SystemExit) as exit_:
        main(["preset=debug", "progress=false", "data.workers=1", f"data.dir={tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1, err
    assert "shard_00000: no space left on the disk" in err and "Traceback" not in err
    assert not list(tmp_path.glob(".shard_*"))  # no half-written shard left behind
