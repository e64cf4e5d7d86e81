"""Which training recipe makes the embedding code what the actions move? Levers side by side.

    python -m benchmarks.world_levers [--world point_mass] [--steps 1000] [--levers base temporal ...]
                                      [--threads N] [--table-only]

Each lever is a set of ``worldmodel.train`` overrides trained on the same data set (the world's
default) for the same steps and batch, into ``runs/levers/<world>-<lever>``. ``--world`` is a
world, ``reacher-target`` (reacher with its target drawn) or a dm_control task as
``dmc-<domain>-<task>`` (e.g. ``dmc-cheetah-run``). The table reads each run's final
diagnostics (``probe.json``, the model at ``--steps``; re-run ``python -m worldmodel.probe`` on
a run to refresh it): probe R² of the controllable state and of the other features, from one
frame and from the history, within-episode variance share, effective rank, and the rollout
error against copy-last at 1 and 5 steps. It writes ``benchmarks/results/world_levers.json``
and ``world_levers.md`` (date, commit, machine); a run replaces only its own world's and
lever's row, so the table keeps every world. Levers:

- ``base``: no lever: the generic recipe (CNN, SIGReg 0.1, inverse dynamics 0.1, no temporal
  term, no marker jitter), which every other lever changes (``lever_overrides``);
- ``temporal``: + SIGReg on embeddings centred over each sequence's time axis (weight 0.1);
- ``keypoints``: a spatial-softmax keypoint encoder instead of the CNN's global head;
- ``keypoints-temporal``: both;
- ``cnn-keypoints``: the CNN's global features and keypoints side by side, half the embedding
  each (``model.encoder=cnn_keypoints``);
- ``grid``: a spatial latent (an 8x8 grid of 4-channel cells) with a convolutional predictor
  that keeps the grid, the goal cost comparing grids cell by cell;
- ``grid-temporal``: the spatial latent with the temporal SIGReg;
- ``jitter``: the generic recipe on a data set of the same size and policy whose goal marker is
  redrawn at random in every frame (``data.marker_jitter=1``; worlds with a marker:
  reacher-target, point_mass, dm_control tasks with a visible target);
- ``keypoints-jitter``: the keypoint encoder on the jittered data set;
- ``keypoints-temporal-jitter``: keypoints and the temporal SIGReg on the jittered data set;
- ``ema``: a stop-gradient EMA target instead of SIGReg (nothing asks for spread);
- ``embed8``: an 8-d embedding (fewer directions for SIGReg to fill from a 2-d state);
- ``keypoints-variance``: keypoints with VICReg's variance hinge only (covariance weight 0);
- ``keypoints-sigreg-low``: keypoints with SIGReg at a tenth of its weight (0.01);
- ``contrast``: + the action-conditioned contrast within each sequence (weight 1): each
  prediction must pick out its own next frame among its sequence's frames.

Each row records the revision of the world its run was trained on (``envs.REVISIONS``, read
from the checkpoint): a rerun on a newer revision sits beside the older row, labelled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks._common import GENERIC, RESULTS, machine, run_module, write_json
from worldmodel.checkpoint import read as read_checkpoint

GRID = ["model.encoder=grid", "model.predictor=conv", "model.embed_dim=256", "model.hidden=32"]
"""The spatial latent: an 8x8 grid of 4 channels a cell, and a convolutional predictor."""
LEVERS: dict[str, list[str]] = {
    "base": ["data.marker_jitter=0"],
    "temporal": ["model.temporal_weight=0.1"],
    "keypoints": ["model.encoder=keypoints"],
    "keypoints-temporal": ["model.encoder=keypoints", "model.temporal_weight=0.1"],
    "cnn-keypoints": ["model.encoder=cnn_keypoints"],
    "grid": GRID,
    "grid-temporal": [*GRID, "model.temporal_weight=0.1"],
    "jitter": ["data.marker_jitter=1"],
    "keypoints-jitter": ["model.encoder=keypoints", "data.marker_jitter=1"],
    "keypoints-temporal-jitter": [
        "model.encoder=keypoints",
        "model.temporal_weight=0.1",
        "data.marker_jitter=1",
    ],
    "ema": ["model.regularizer=ema"],
    "embed8": ["model.embed_dim=8"],
    "keypoints-variance": [
        "model.encoder=keypoints",
        "model.regularizer=vicreg",
        "model.vicreg_cov_weight=0",
    ],
    "keypoints-sigreg-low": ["model.encoder=keypoints", "model.sigreg_weight=0.01"],
    "contrast": ["model.contrast_weight=1"],
}
CONTROLLABLE = {
    "point_mass": "position",
    "reacher": "joint_sincos",
    "reacher-target": "joint_sincos",
    "wall": "position",
    "dmc": "pose",
}
"""The probe feature that is the controllable state of each world. dm_control: ``pose`` (every
hinge as sine and cosine), as the stored results here were measured; every probe also reports
``angles`` (hinges limited to less than a full turn as angles, envs/dmc.py), which does not ask
a linear probe for the cosine of a joint that cannot turn over."""


def controllable(world: str) -> str:
    """The probe feature of ``world`` (a dm_control task ``dmc-<domain>-<task>`` as ``dmc``)."""
    return CONTROLLABLE.get(world, CONTROLLABLE["dmc"] if world.startswith("dmc-") else "position")


WORLD_OVERRIDES = {"reacher-target": ["env=reacher", "env.draw_target=true"]}
"""Worlds that are a world with other looks (reacher with its target drawn)."""


def world_settings(world: str) -> list[str]:
    """The ``worldmodel.train`` settings that name ``world``: a world, ``reacher-target``, or a
    dm_control task as ``dmc-<domain>-<task>`` (e.g. ``dmc-cheetah-run``)."""
    if world in WORLD_OVERRIDES:
        return WORLD_OVERRIDES[world]
    if world.startswith("dmc-") and world.count("-") >= 2:
        domain, task = world[4:].split("-", 1)
        return ["env=dmc", f"env.domain={domain}", f"env.task={task}"]
    return [f"env={world}"]


def lever_overrides(world: str, lever: str) -> list[str]:
    """The ``worldmodel.train`` overrides of ``lever`` on ``world``: the generic recipe, data
    with the marker unjittered unless the lever jitters it (reacher-target, where jitter is part
    of the generic recipe, keeps its default), then the lever's own settings."""
    # Every lever starts from the generic recipe, not from a world's own (point_mass's default,
    # ``worldmodel.config.WORLD_RECIPES``, is the keypoints-jitter lever with SIGReg at 0.003, 4
    # frames and the actions between them; reacher's reads the action between its 2 frames).
    own = LEVERS[lever]
    jitter = world == "reacher-target" or any(o.startswith("data.marker_jitter=") for o in own)
    keys = {o.partition("=")[0] for o in own}
    generic = [o for o in GENERIC if o.partition("=")[0] not in keys]  # the lever's own wins
    return [*generic, *([] if jitter else ["data.marker_jitter=0"]), *own]


def diagnostics_at(metrics: Path, step: int) -> dict | None:
    """The diagnostics row of ``metrics.jsonl`` logged at ``step`` (None if absent)."""
    if not metrics.exists():
        return None
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        if row.get("step") == step and "diag/within_episode_var_share" in row:
            return row
    return None


def with_final_probe(row: dict, probe: Path) -> dict:
    """The diagnostics ``row`` with the final model's ``probe.json`` in place of its values.

    ``probe.json`` is written at the end of training (the model at the last step) and again by
    ``python -m worldmodel.probe``; training logs before this change fit the probes on 30
    episodes only, which cannot read an episode constant (``train.probe_fit_episodes``)."""
    if not probe.exists():
        return row
    stats = json.loads(probe.read_text())
    out = {**row, **{f"diag/{k}": v for k, v in stats.items()}}
    out["probe_fit_episodes"] = stats.get("probe_fit_episodes", 30)
    return out


def trained_revision(run_dir: Path) -> int:
    """The revision of the world whose data the run's model was trained on (its checkpoint)."""
    return int(read_checkpoint(run_dir)["env"].get("world_revision", 1))


def summarize(world: str, lever: str, row: dict, revision: int = 1) -> dict:
    feature = controllable(world)
    out = {
        "world": world,
        "world_revision": revision,
        "lever": lever,
        "overrides": lever_overrides(world, lever) if lever in LEVERS else [],
        "step": row["step"],
        "probe_r2": row["diag/probe_r2"].get(feature),
        "probe_r2_history": row["diag/probe_r2_history"].get(feature),
        "within_episode_var_share": row["diag/within_episode_var_share"],
        "effective_rank": row["diag/effective_rank"],
        "probe_r2_features": row["diag/probe_r2"],
        "probe_r2_history_features": row["diag/probe_r2_history"],
        "probe_fit_episodes": row.get("probe_fit_episodes", 30),
    }
    ro, copy = row.get("diag/rollout_mse"), row.get("diag/copy_last_mse")
    if ro and copy:
        out["copy_over_rollout"] = {
            "1": copy[0] / ro[0],
            "5": copy[min(4, len(ro) - 1)] / ro[min(4, len(ro) - 1)],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", default="point_mass")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's)")
    parser.add_argument("--table-only", action="store_true", help="train nothing; read the runs")
    args = parser.parse_args()
    rows = []
    for lever in args.levers:
        run_dir = Path("runs") / "levers" / f"{args.world}-{lever}"
        if not args.table_only:
            settings = [
                *world_settings(args.world),
                f"train.steps={args.steps}",
                f"run_dir={run_dir}",
                *lever_overrides(args.world, lever),
                *([f"train.threads={args.threads}"] if args.threads else []),
            ]
            run_module("worldmodel.train", settings, args.threads)
        row = diagnostics_at(run_dir / "metrics.jsonl", args.steps)
        if row is None:
            print(f"{run_dir}: no diagnostics at step {args.steps}; skipped")
            continue
        row = with_final_probe(row, run_dir / "probe.json")
        rows.append(summarize(args.world, lever, row, trained_revision(run_dir)))
    info = machine()
    merged = merge(rows)
    write_json("world_levers.json", {"machine": info, "results": merged, **NOTE})
    (RESULTS / "world_levers.md").write_text(table(merged, info))
    print(table(merged, info))


NOTE = {
    "note": "Rows from several invocations (one world each), each with its own step; rows of "
    "the same world, lever and world revision are replaced by a new run's."
}


def _key(row: dict) -> tuple[str, str, int]:
    return row["world"], row["lever"], row.get("world_revision", 1)


def merge(rows: list[dict]) -> list[dict]:
    """The stored rows (``world_levers.json``) with ``rows`` in place of those of the same
    world, lever and world revision: each invocation trains one world, and the table keeps
    every world, and a world's rows of an older revision."""
    path = RESULTS / "world_levers.json"
    old = json.loads(path.read_text()).get("results", []) if path.exists() else []
    new = {_key(r) for r in rows}
    kept = [r for r in old if _key(r) not in new]
    return sorted(
        [*kept, *rows],
        key=lambda r: (r["world"], -r.get("world_revision", 1), list(LEVERS).index(r["lever"])),
    )


def table(rows: list[dict], info: dict) -> str:
    lines = [
        f"Levers of each world at the same training steps (batch 48, the world's data set), "
        f"table built {info['date']} at commit {info.get('commit')}; probe R² of the "
        "controllable state from one frame and from the predictor's history, on 30 held-out "
        "episodes, each probe fit on the training episodes in its row.",
        "",
        "| world (revision) | lever | steps | probe fit on | probe R² (frame / history) | within-episode share | eff. rank | rollout vs copy-last (1 / 5 steps) | other features (R², one frame) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r.get("copy_over_rollout")
        ro = f"{ratio['1']:.1f}x / {ratio['5']:.1f}x" if ratio else "-"
        feature = controllable(r["world"])
        others = ", ".join(
            f"{k} {v:.2f}" for k, v in r.get("probe_r2_features", {}).items() if k != feature
        )
        lines.append(
            f"| {r['world']} ({r.get('world_revision', 1)}) | {r['lever']} | {r['step']} | {r.get('probe_fit_episodes', 30)} eps | "
            f"{r['probe_r2']:.2f} / {r['probe_r2_history']:.2f} | "
            f"{r['within_episode_var_share']:.2f} | {r['effective_rank']:.1f} | {ro} | {others} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
