"""Training curves and the predicted-rollout picture, from the session's tiny model."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

import worldmodel
from tests.conftest import run_cli
from worldmodel import report
from worldmodel.checkpoint import config_from_dict
from worldmodel.data import EpisodeDataset

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run folder, to write pictures into."""
    return shutil.copytree(tiny_run, tmp_path / "run")


def test_plot_training_writes_training_png_beside_metrics(run):
    path = report.plot_training(run)
    assert path == run / "training.png" and path.read_bytes().startswith(PNG)
    assert not list(run.glob(".*tmp*"))  # written atomically


def test_plot_training_uses_rollout_error_over_steps_when_logged(tmp_path):
    rows = [
        {"step": s, "loss": 1.0 / s, "pred_tf": 0.5 / s, "sigreg": 0.1} for s in range(1, 5)
    ] + [
        {
            "step": s,
            "diag/probe_r2": {"joint_sincos": 0.2 * s, "velocity": -3.0},
            "diag/rollout_mse": [0.1, 0.2 / s],
            "diag/copy_last_mse": [0.1, 0.3],
        }
        for s in (2, 4)
    ]
    text = "\n".join(json.dumps(r) for r in rows) + '\n{"step": 5, "lo'  # torn last line
    (tmp_path / "metrics.jsonl").write_text(text)
    assert report.plot_training(tmp_path).read_bytes().startswith(PNG)
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        report.plot_training(tmp_path / "nowhere")


def test_nearest_frames_finds_the_frame_itself(tiny_run):
    model = worldmodel.load(str(tiny_run), device="cpu")
    dataset = EpisodeDataset(model.info["data"]["dir"])
    train_eps, _ = dataset.split(config_from_dict(model.info["config"]).data.val_fraction)
    frame = np.asarray(dataset.episode(int(train_eps[1])).obs[5])
    query = model.encode(frame[None])  # [1, D]
    found, dist = report.nearest_frames(model, dataset, train_eps, query)
    assert dist[0] < 1e-4 and np.array_equal(found[0], frame)
    assert isinstance(query, torch.Tensor)


def test_report_command_writes_both_pictures(run, cache):
    out = run_cli("worldmodel.report", f"run_dir={run}", "steps=4", cache=cache)
    for name in ("training.png", "rollout.png"):
        assert (run / name).read_bytes().startswith(PNG), name
        assert f"wrote {run / name}" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "exactly one of run_dir=RUN or checkpoint=PATH"),
        (["run_dir=x", "checkpoint=y"], "exactly one of"),
        (["steps=many", "run_dir=x"], "steps: Value 'many'"),
        (["steps=0", "run_dir=x"], "steps must be >= 1"),
        (["colour=red"], "colour is not a setting of worldmodel.report"),
        (
            ["data.dir=d", "run_dir=x"],
            "data.dir is not a setting of worldmodel.report; use data_dir=",
        ),
        (["episode=99", "checkpoint=TINY"], "episode=99: the data set holds 1 held-out episodes"),
    ],
)
def test_report_bad_input_is_one_line(args, message, tiny_run, capsys):
    args = [a.replace("TINY", str(tiny_run / "checkpoint.pt")) for a in args]
    with pytest.raises(SystemExit) as exit_:
        report.main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_matplotlib_gives_the_install_hint(run, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "worldmodel\[plots\]"'):
        report.plot_training(run)
