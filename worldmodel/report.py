"""Pictures of a trained model: its training curves, and what it believes a rollout looks like.

- :func:`plot_training` reads a run's ``metrics.jsonl`` and writes ``training.png`` beside it:
  the loss and its parts, the linear-probe R^2 of each state feature, and the open-loop rollout
  error next to the copy-last baseline, each against training steps.
- :func:`plot_rollout` writes ``rollout.png``: for a held-out episode, the true frames in the top
  row and, below each, the training frame whose embedding is nearest (L2) to the model's
  open-loop prediction for that step. A JEPA has no decoder, so retrieval is how one sees what
  the predictor believes: where the bottom row follows the top one, the prediction is right.

``python -m worldmodel.report run_dir=RUN`` (or ``checkpoint=PATH``) writes both. Needs
matplotlib: ``pip install "worldmodel[plots]"``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldmodel.config import ReportConfig
from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.errors import InputError

PLOTS_HINT = 'pip install "worldmodel[plots]"'
LOSS_KEYS = (
    "loss",
    "recon",
    "pred_tf",
    "pred_rollout",
    "sigreg",
    "vicreg",
    "temporal",
    "idm",
    "contrast",
)
"""Scalar columns of metrics.jsonl plotted as the loss and its parts."""


def _figure(rows: int, cols: int, size: tuple[float, float]):
    """A matplotlib Figure drawn by the Agg canvas (no pyplot, no display), or an ImportError
    with the install hint."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            f"worldmodel.report draws with matplotlib, which is not installed: {PLOTS_HINT}"
        ) from None
    fig = Figure(figsize=size, constrained_layout=True)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig, path: Path) -> Path:
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (a torn last line, from an interrupted run, is skipped)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _last(value: Any) -> float | None:
    """A number, or the last horizon of a per-horizon list; None otherwise."""
    if isinstance(value, list) and value:
        value = value[-1]
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def plot_training(run_dir: str | Path) -> Path:
    """``run_dir/metrics.jsonl`` -> ``run_dir/training.png``; returns the picture's path.

    Panels: the loss parts (log scale); probe R^2 per feature (clipped below at -1, where a
    probe is no better than the mean); rollout error against copy-last at the longest horizon
    over training when the diagnostics rows hold it, else per horizon from ``probe.json``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; give the run folder of a training run")
    rows = read_metrics(path)
    fig, axes = _figure(1, 3, (15, 4))
    loss_ax, probe_ax, roll_ax = axes[0]

    for key in LOSS_KEYS:
        pts = [(r["step"], r[key]) for r in rows if _last(r.get(key)) is not None]
        if pts:
            steps, values = zip(*pts)
            loss_ax.plot(steps, values, label=key, lw=2 if key == "loss" else 1)
    loss_ax.set(title="training loss and its parts", xlabel="step")
    if loss_ax.lines and all(v > 0 for line in loss_ax.lines for v in line.get_ydata()):
        loss_ax.set_yscale("log")

    features = sorted({k for r in rows for k in (r.get("diag/probe_r2") or {})})
    for name in features:
        pts = [
            (r["step"], r["diag/probe_r2"][name])
            for r in rows
            if isinstance(r.get("diag/probe_r2"), dict) and name in r["diag/probe_r2"]
        ]
        steps, values = zip(*pts)
        probe_ax.plot(steps, np.maximum(values, -1.0), marker="o", label=name)
    probe_ax.set(
        title="linear probe R² (held-out; clipped at -1)", xlabel="step", ylim=(-1.05, 1.05)
    )

    pred = [(r["step"], _last(r.get("diag/rollout_mse"))) for r in rows]
    copy = [(r["step"], _last(r.get("diag/copy_last_mse"))) for r in rows]
    pred, copy = [p for p in pred if p[1] is not None], [c for c in copy if c[1] is not None]
    probe_json = run_dir / "probe.json"
    if pred and copy:
        roll_ax.plot(*zip(*pred), marker="o", label="predictor (longest horizon)")
        roll_ax.plot(*zip(*copy), marker="o", ls="--", label="copy last embedding")
        roll_ax.set(title="open-loop rollout error", xlabel="step", ylabel="MSE")
    elif probe_json.exists() and json.loads(probe_json.read_text()).get("rollout_mse"):
        stats = json.loads(probe_json.read_text())
        horizons = range(1, len(stats["rollout_mse"]) + 1)
        roll_ax.plot(horizons, stats["rollout_mse"], marker="o", label="predictor")
        roll_ax.plot(horizons, stats["copy_last_mse"], marker="o", ls="--", label="copy last")
        roll_ax.set(title="rollout error at the end of training", xlabel="steps ahead")
        roll_ax.set(ylabel="MSE")
    else:
        roll_ax.text(0.5, 0.5, "no rollout diagnostics yet", ha="center", va="center")
        roll_ax.set(title="open-loop rollout error")
    for ax in (loss_ax, probe_ax, roll_ax):
        if ax.lines:
            ax.legend(fontsize=8)
    return _save(fig, run_dir / "training.png")


@torch.no_grad()
def nearest_frames(
    model: Any, dataset: Any, episodes: np.ndarray, queries: torch.Tensor, bank_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """For each query embedding ``[Q, D]``, the frame of ``episodes`` whose embedding is nearest
    (L2). At most ``bank_size`` frames, spread evenly over the episodes, are searched.

    Returns frames uint8 ``[Q, H, W, 3]`` and their distances ``[Q]``.
    """
    steps = dataset.episode_length + 1
    total = len(episodes) * steps
    picks = np.unique(np.linspace(0, total - 1, min(bank_size, total)).round().astype(int))
    frames = np.stack([dataset.episode(int(episodes[i // steps])).obs[i % steps] for i in picks])
    bank = torch.cat([model.encode(frames[i : i + 256]) for i in range(0, len(frames), 256)])
    # Exact differences: the matrix-product form of cdist loses ~1e-3 to cancellation, so a
    # frame's own embedding would not be at distance 0.
    dist = torch.cdist(
        queries.float().to(bank.device), bank, compute_mode="donot_use_mm_for_euclid_dist"
    )  # [Q, N]
    best = dist.argmin(dim=1)
    return frames[best.cpu().numpy()], dist.gather(1, best[:, None])[:, 0].cpu().numpy()


@torch.no_grad()
def plot_rollout(
    checkpoint: str | Path,
    out: str | Path | None = None,
    *,
    episode: int = 0,
    steps: int = 8,
    data_dir: str | Path | None = None,
    device: str = "cpu",
) -> Path:
    """``rollout.png`` (beside the checkpoint unless ``out``) for held-out episode ``episode``.

    The model encodes the episode's first ``history`` frames and rolls its predictor forward
    ``steps`` decisions on the episode's own actions, open loop. Top row: the true frames at
    those steps; bottom row: the nearest training frame of each predicted embedding.
    """
    import worldmodel
    from worldmodel.checkpoint import config_from_dict
    from worldmodel.data import EpisodeDataset

    model = worldmodel.load(str(checkpoint), device=device)
    cfg = config_from_dict(model.info["config"])
    dataset = EpisodeDataset(
        data_dir or model.info["data"]["dir"], expect={"image_size": model.image_size}
    )
    train_eps, val_eps = dataset.split(cfg.data.val_fraction)
    if not 0 <= episode < len(val_eps):
        raise InputError(f"episode={episode}: the data set holds {len(val_eps)} held-out episodes")
    ep = dataset.episode(int(val_eps[episode]))
    hist = model.history
    steps = min(steps, dataset.episode_length + 1 - hist)
    if steps < 1:
        raise InputError(f"episodes of {dataset.episode_length} steps leave none to predict")
    z0 = model.encode(np.asarray(ep.obs[:hist]))[None]  # [1, T, D]
    actions = np.asarray(ep.actions[hist - 1 : hist - 1 + steps])[None]  # [1, H, A]
    past = np.asarray(ep.actions[: hist - 1])[None]  # [1, T-1, A]
    predicted = model.rollout(z0, actions, past)[0]  # [H, D]
    truth = np.asarray(ep.obs[hist : hist + steps])  # [H, S, S, 3]
    nearest, dist = nearest_frames(model, dataset, train_eps, predicted)

    fig, axes = _figure(2, steps, (1.6 * steps, 3.6))
    for h in range(steps):
        for row, image in ((0, truth[h]), (1, nearest[h])):
            axes[row, h].imshow(image)
            axes[row, h].set_xticks([])
            axes[row, h].set_yticks([])
        axes[0, h].set_title(f"t+{h + 1}", fontsize=9)
        axes[1, h].set_xlabel(f"L2 {dist[h]:.2f}", fontsize=8)
    axes[0, 0].set_ylabel("true", fontsize=9)
    axes[1, 0].set_ylabel("nearest to\nprediction", fontsize=9)
    fig.suptitle(
        f"held-out episode {int(val_eps[episode])}: open-loop prediction from {hist} frame(s)",
        fontsize=10,
    )
    path = Path(out) if out is not None else Path(model.info["path"]).parent / "rollout.png"
    return _save(fig, path)


USAGE = """usage: python -m worldmodel.report run_dir=RUN | checkpoint=PATH [episode=0] [steps=8]
Writes training.png (from the run's metrics.jsonl) and rollout.png (true frames of a held-out
episode above the nearest training frames of the model's open-loop predictions)."""

HINTS = {
    "data.dir": "use data_dir=",
    "env": "the world comes from the checkpoint",
    "model": "the model comes from checkpoint=",
}
"""What to use instead of the settings other commands have."""


def report(cfg: ReportConfig) -> list[Path]:
    """Write the run's pictures (training.png when it has metrics.jsonl, and rollout.png)."""
    if (cfg.run_dir is None) == (cfg.checkpoint is None):
        raise InputError("give exactly one of run_dir=RUN or checkpoint=PATH")
    checkpoint = Path(cfg.checkpoint or cfg.run_dir or "")
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    written = []
    if (run_dir / "metrics.jsonl").exists():
        written.append(plot_training(run_dir))
    written.append(
        plot_rollout(
            checkpoint,
            run_dir / "rollout.png",
            episode=cfg.episode,
            steps=cfg.steps,
            data_dir=cfg.data_dir,
            device=cfg.device,
        )
    )
    for path in written:
        print(f"wrote {path}")
    return written


def main(argv: Sequence[str] | None = None) -> list[Path]:
    from worldmodel.runtime.cli import run_command

    return run_command(
        report,
        argv,
        errors=(ImportError, FileNotFoundError),  # no matplotlib; no metrics.jsonl
        config_name="report",
        schema=ReportConfig,
        usage=USAGE,
        name="worldmodel.report",
        hints=HINTS,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
