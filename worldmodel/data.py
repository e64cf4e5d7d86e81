"""Episode data sets on disk: atomic shards, a manifest that is the data card, lazy loading.

Layout of a data set folder::

    manifest.json          settings, counts, protocol version and per-file checksums
    shard_00000/obs.npy    uint8   [E, T+1, H, W, 3]  frames (T = decisions per episode)
    shard_00000/actions.npy float32 [E, T, A]        actions in [-1, 1]
    shard_00000/states.npy float64 [E, T+1, S]       privileged simulator states (diagnostics only)
    shard_00000/rewards.npy float32 [E, T]           the task's own reward (0 where it has none)

Each shard is written into a temporary folder and renamed into place, and the manifest is
rewritten atomically after every shard, so an interrupted collection leaves only whole shards and
resumes where it stopped. Arrays are opened with ``np.load(mmap_mode="r")``: nothing is read into
memory until a batch asks for it, and no pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from worldmodel.runtime.atomic import atomic_path, disk_full, umask
from worldmodel.runtime.device import to_device
from worldmodel.runtime.errors import InputError

FORMAT = "worldmodel-episodes"
FORMAT_VERSION = 1
ARRAYS = ("obs", "actions", "states", "rewards")
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


class DatasetError(InputError):
    """A data set on disk is missing, corrupt, truncated or does not match what was asked for."""


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file so that readers see either the old or the new content, never half."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def shard_name(index: int) -> str:
    return f"shard_{index:05d}"


def write_shard(root: Path, index: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write one shard atomically; returns its manifest entry (episodes, file sizes, checksums)."""
    root = Path(root)
    final = root / shard_name(index)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes it owner-only; a data set is shared
        files = {}
        for key in ARRAYS:
            path = tmp / f"{key}.npy"
            with open(path, "wb") as f:
                np.save(f, np.ascontiguousarray(arrays[key]), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
        if final.exists():  # a stale shard not listed in the manifest: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        full = disk_full(e, final)
        if full is not None:
            raise full from None
        raise
    return {"name": final.name, "episodes": int(arrays["actions"].shape[0]), "files": files}


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a data set folder, None when there is none yet."""
    path = Path(root) / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(
            f"{path}: not valid JSON ({e}); the data set is damaged: delete {root} and collect again"
        ) from None
    if manifest.get("format") != FORMAT:
        raise DatasetError(
            f"{path}: not a worldmodel episode data set (format={manifest.get('format')!r})"
        )
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format version {manifest['format_version']} is newer than this worldmodel "
            f"understands ({FORMAT_VERSION}); upgrade worldmodel"
        )
    return manifest


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(Path(root) / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def clean_partial(root: Path) -> int:
    """Remove temporary shard folders and manifest files left by an interrupted write; returns
    how many were removed."""
    removed = 0
    for tmp in Path(root).glob(".shard_*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed += 1
    for tmp in Path(root).glob(".manifest.json.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class Shard:
    """Memory-mapped arrays of one shard."""

    obs: np.ndarray  # uint8 [E, T+1, H, W, 3]
    actions: np.ndarray  # float32 [E, T, A]
    states: np.ndarray  # float64 [E, T+1, S]
    rewards: np.ndarray  # float32 [E, T]


class EpisodeDataset:
    """A collected data set, opened lazily; episodes are addressed by a global index.

    Raises DatasetError, naming the file and the problem, when the data set is incomplete,
    corrupt, truncated or does not match ``expect`` (e.g. ``{"image_size": 64}``).
    """

    def __init__(self, root: str | Path, verify: bool = True, expect: dict[str, Any] | None = None):
        self.root = Path(root)
        manifest = read_manifest(self.root)
        if manifest is None:
            raise DatasetError(
                f"{self.root}: no manifest.json, so no data set is here; "
                f"collect one with `python -m worldmodel.collect data.dir={self.root}`"
            )
        self.manifest = manifest
        if not manifest.get("complete", False):
            raise DatasetError(
                f"{self.root}/manifest.json: the collection is incomplete "
                f"({len(manifest['shards'])} shards of {manifest['num_shards']}); "
                f"run the same collect command again to resume it"
            )
        for key, want in (expect or {}).items():
            have = manifest.get(key)
            if have != want:
                raise DatasetError(
                    f"{self.root}/manifest.json: data set has {key}={have!r} but {want!r} is "
                    f"needed; point data.dir at a matching data set or collect a new one"
                )
        self.shards = [self._open(entry, verify) for entry in manifest["shards"]]
        counts = [s.actions.shape[0] for s in self.shards]
        self._offsets = np.cumsum([0, *counts])
        self.num_episodes = int(self._offsets[-1])
        self.episode_length = int(manifest["episode_length"])
        self._check_manifest_matches_shards()

    def _check_manifest_matches_shards(self) -> None:
        """The manifest's counts must describe the arrays (a hand-edited manifest may not)."""
        where = f"{self.root}/manifest.json"
        for entry, shard in zip(self.manifest["shards"], self.shards):
            episodes, steps = shard.actions.shape[:2]
            if steps != self.episode_length:
                raise DatasetError(
                    f"{where}: episode_length={self.episode_length} but "
                    f"{self.root / entry['name']}/actions.npy holds episodes of {steps} steps; "
                    f"the manifest does not describe this data: restore it or collect again"
                )
            if entry.get("episodes", episodes) != episodes:
                raise DatasetError(
                    f"{where}: lists {entry['episodes']} episodes for {entry['name']} but its "
                    f"arrays hold {episodes}; restore the manifest or collect again"
                )

    def _open(self, entry: dict[str, Any], verify: bool) -> Shard:
        folder = self.root / entry["name"]
        arrays = {}
        for key in ARRAYS:
            path = folder / f"{key}.npy"
            meta = entry["files"][path.name]
            if not path.exists():
                raise DatasetError(f"{path}: missing; the data set is damaged: collect it again")
            size = path.stat().st_size
            if size != meta["bytes"]:
                raise DatasetError(
                    f"{path}: {size} bytes where the manifest records {meta['bytes']} "
                    f"(truncated or overwritten); delete the shard folder and rerun collect to redo it"
                )
            if verify and sha256(path) != meta["sha256"]:
                raise DatasetError(
                    f"{path}: checksum mismatch (corrupt file); delete the shard folder and rerun "
                    f"collect to redo it"
                )
            try:
                arrays[key] = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as err:
                raise DatasetError(f"{path}: cannot be read as a NumPy array ({err})") from None
        shard = Shard(**arrays)
        e, t = shard.actions.shape[:2]
        size = self.manifest["image_size"]
        expected = {
            "obs": (e, t + 1, size, size, 3),
            "states": (e, t + 1),
            "rewards": (e, t),
        }
        for key, shape in expected.items():
            got = getattr(shard, key).shape[: len(shape)]
            if got != shape:
                raise DatasetError(f"{folder / key}.npy: shape {got} where {shape} was expected")
        return shard

    def episode(self, index: int) -> Shard:
        """Arrays of one episode (views into the memory map)."""
        s = int(np.searchsorted(self._offsets, index, side="right") - 1)
        i = index - int(self._offsets[s])
        sh = self.shards[s]
        return Shard(sh.obs[i], sh.actions[i], sh.states[i], sh.rewards[i])

    def split(
        self, val_fraction: float, train_episodes: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Episode indices for training and held-out validation (the last episodes).

        ``train_episodes`` keeps only the first N training episodes; the validation episodes
        are the same whatever N is, so that runs on less data are judged on the same episodes.
        """
        n_val = max(1, round(self.num_episodes * val_fraction)) if val_fraction > 0 else 0
        if n_val >= self.num_episodes:
            raise DatasetError(
                f"{self.root}: {self.num_episodes} episodes cannot give {n_val} held-out ones; "
                f"collect more episodes or lower data.val_fraction"
            )
        idx = np.arange(self.num_episodes)
        n_train = self.num_episodes - n_val
        if train_episodes is not None:
            if not 1 <= train_episodes <= n_train:
                raise DatasetError(
                    f"data.train_episodes={train_episodes} but {self.root} holds {n_train} "
                    f"training episodes ({self.num_episodes} less {n_val} held out); choose "
                    f"1..{n_train} or collect more episodes (data.episodes)"
                )
            return idx[:train_episodes], idx[n_train:]
        return idx[:n_train], idx[n_train:]

    def draw(
        self, rng: np.random.Generator, episodes: np.ndarray, batch: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where ``batch`` random sub-sequences of ``length`` frames lie: episode indices [B]
        (drawn from ``episodes``) and first frames [B]."""
        if length > self.episode_length + 1:
            raise DatasetError(
                f"{self.root}: sequences of {length} frames do not fit in episodes of "
                f"{self.episode_length + 1} frames; lower train.rollout_steps or model.history"
            )
        eps = rng.choice(episodes, size=batch)
        starts = rng.integers(0, self.episode_length + 2 - length, size=batch)
        return eps, starts

    def sample(
        self, rng: np.random.Generator, episodes: np.ndarray, batch: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Random sub-sequences: frames uint8 [B, L, H, W, 3] and actions float32 [B, L-1, A]."""
        eps, starts = self.draw(rng, episodes, batch, length)
        obs, act = [], []
        for e, t in zip(eps, starts):
            ep = self.episode(int(e))
            obs.append(ep.obs[t : t + length])
            act.append(ep.actions[t : t + length - 1])
        return np.stack(obs), np.stack(act)


class DeviceEpisodes:
    """Some episodes' frames and actions held in one device's memory, so that a training batch is
    a gather there instead of a copy out of the memory map and across the bus (on a GPU that copy
    took as long as the step itself: docs/results-log.md, "The gpu preset on a lent H200").

    :meth:`sample` makes from a generator the same draws, in the same order, as
    :meth:`EpisodeDataset.sample` followed by :func:`shift_sequences`, so it gives the same
    batches for the same generator state, and a run resumed from a checkpoint goes on alike.
    """

    def __init__(self, dataset: EpisodeDataset, episodes: np.ndarray, device: torch.device):
        self.dataset = dataset
        self.episodes = np.asarray(episodes)
        self._row = np.full(dataset.num_episodes, -1, dtype=np.int64)
        self._row[self.episodes] = np.arange(len(self.episodes))
        first = dataset.episode(int(self.episodes[0]))
        n = len(self.episodes)
        self.obs = torch.empty((n, *first.obs.shape), dtype=torch.uint8, device=device)
        self.actions = torch.empty((n, *first.actions.shape), dtype=torch.float32, device=device)
        for row, e in enumerate(self.episodes):  # one episode at a time: no host copy of it all
            ep = dataset.episode(int(e))
            self.obs[row] = torch.from_numpy(np.array(ep.obs))
            self.actions[row] = torch.from_numpy(np.array(ep.actions, np.float32))

    @staticmethod
    def nbytes(dataset: EpisodeDataset, episodes: int) -> int:
        """Bytes that ``episodes`` episodes of ``dataset`` take in device memory."""
        ep = dataset.episode(0)
        return episodes * (ep.obs.nbytes + ep.actions.size * 4)

    def sample(
        self, rng: np.random.Generator, batch: int, length: int, shift: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random sub-sequences on the device: frames uint8 [B, L, H, W, 3] and actions float32
        [B, L-1, A], each sequence moved by up to ``shift`` pixels (:func:`shift_sequences`)."""
        eps, starts = self.dataset.draw(rng, self.episodes, batch, length)
        dev = self.obs.device
        rows = to_device(self._row[eps], dev)[:, None]  # [B, 1]
        t = to_device(starts, dev)[:, None] + torch.arange(length, device=dev)  # [B, L]
        obs = self.obs[rows, t]  # [B, L, H, W, 3]
        act = self.actions[rows, t[:, :-1]]  # [B, L-1, A]
        return shift_sequences(obs, shift, rng), act


def shift_sequences(frames: ArrayT, pad: int, rng: np.random.Generator) -> ArrayT:
    """Random-shift augmentation: frames [B, L, H, W, C] (a NumPy array, or a tensor, shifted on
    its device) with each sequence moved by one offset in [-pad, pad] pixels along each axis,
    drawn per sequence and kept for all its frames; the pixels that come into view repeat the
    edge (as padding by ``pad`` and cropping would)."""
    if pad == 0:
        return frames
    b, length, h, w, _ = frames.shape
    dy, dx = rng.integers(-pad, pad + 1, size=(2, b))
    rows = np.clip(np.arange(h)[None, :] + dy[:, None], 0, h - 1)  # [B, H]
    cols = np.clip(np.arange(w)[None, :] + dx[:, None], 0, w - 1)  # [B, W]
    index = (
        np.arange(b)[:, None, None, None],
        np.arange(length)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    )
    if isinstance(frames, torch.Tensor):
        return frames[tuple(to_device(i, frames.device) for i in index)]
    return frames[index]


def new_manifest(**fields: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "shards": [],
        "complete": False,
        **fields,
    }
