"""``python -m worldmodel.probe checkpoint=PATH``: diagnostics of a trained model -> probe.json.

Embedding standard deviation per dimension and effective rank (with a collapse warning),
open-loop latent prediction error at horizons 1..K next to the copy-last baseline, and
linear-probe R^2 from the embedding to privileged state on held-out episodes of the model's data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from worldmodel.api import load, model_dataset
from worldmodel.checkpoint import config_from_dict
from worldmodel.config import ProbeConfig
from worldmodel.diagnostics import diagnose, headline
from worldmodel.runtime.errors import InputError

USAGE = """usage: python -m worldmodel.probe checkpoint=PATH [data.dir=...] [run_dir=...]
Writes probe.json next to the checkpoint (or into run_dir)."""

HINTS = {
    "env": "the world comes from the checkpoint",
    "model": "the model comes from checkpoint=",
    "seed": "the probes are deterministic",
}
"""What to use instead of the settings other commands have."""


def probe(
    cfg: ProbeConfig,
    more_features: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
) -> dict:
    """Diagnostics of ``cfg.checkpoint``, written to probe.json and returned; the probes read
    the world's state features and, when given, ``more_features`` (states [N, S] -> {name:
    [N, k]}: a benchmark's own view of the state, such as what the frames can show of it)."""
    if not cfg.checkpoint:
        raise InputError("checkpoint= is required, e.g. checkpoint=runs/reacher-cpu/checkpoint.pt")
    model = load(cfg.checkpoint, device=cfg.device)
    trained = config_from_dict(model.info["config"])
    dataset = model_dataset(model, cfg.data.dir, cfg.data.verify)
    data_dir = dataset.root
    train_eps, val_eps = dataset.split(trained.data.val_fraction)
    from envs import make

    env = make(trained.env.name, **model.info["env"]["kwargs"])

    def features(states: np.ndarray) -> dict[str, np.ndarray]:  # [N, S] -> {name: [N, k]}
        more = more_features(states) if more_features is not None else {}
        return {**env.state_features(states), **more}

    assert trained.train.rollout_steps is not None  # every checkpoint stores its own
    stats = diagnose(
        model,
        dataset,
        train_eps,
        val_eps,
        features,
        trained.train.rollout_steps + 2,
        cfg.train.probe_episodes,
        cfg.train.probe_fit_episodes,
    )
    env.close()
    out_dir = Path(cfg.run_dir) if cfg.run_dir else Path(model.info["path"]).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    stats["checkpoint"], stats["data_dir"] = model.info["path"], str(data_dir)
    (out_dir / "probe.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{out_dir / 'probe.json'}: {headline(stats)}")
    return stats


def main(argv: list[str] | None = None) -> dict:
    from worldmodel.runtime.cli import run_command

    return run_command(
        probe,
        argv,
        config_name="probe",
        schema=ProbeConfig,
        usage=USAGE,
        name="worldmodel.probe",
        hints=HINTS,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
