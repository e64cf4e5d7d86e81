"""``python -m agents.compare a=[A.json,...] b=[B.json,...]``: two recipes (or planners) compared
on the same episodes.

Each ``eval.json`` keeps one row per episode in the task's episode order (``per_episode``), so two
evaluations of the same task, evaluation seed and episode count play the same starts and goals
and their episodes pair up. Pairing removes the spread between episodes (a far goal fails for
every model) from the comparison: what is left is where the two disagree. The ``i``-th file of
``a`` is paired with the ``i``-th of ``b`` (e.g. the same training and evaluation seeds), and
the pairs are pooled.

For a success task the test is McNemar's exact test: among the episodes where exactly one of the
two succeeds, is ``a`` the one as often as ``b``? For a return task it is the sign test on the
paired returns, the same exact binomial test. Either way, the test counts episodes: it does not
count the spread between training seeds, which only more training seeds measure; the per-pair
rows show it.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

from agents.evaluation.config import CompareConfig
from agents.evaluation.episodes import wilson
from worldmodel.runtime.atomic import atomic_path
from worldmodel.runtime.errors import InputError
from worldmodel.runtime.provenance import git_commit

USAGE = """usage: python -m agents.compare a=[A1.json,A2.json] b=[B1.json,B2.json] [out=compare.json]
Pairs the i-th eval.json of a with the i-th of b (same task, eval.seed and eval.episodes), pools
the pairs and tests whether a and b differ on the same episodes."""

SAME = {
    "task": "compare evaluations of one task",
    "dmc": "compare evaluations of one dm_control domain and task",
    "seed": "evaluate both with the same eval.seed",
    "episodes": "evaluate both with the same eval.episodes",
    "world_revision": "evaluate the older file's checkpoint again with the current code",
    "protocol_version": "evaluate the older file's checkpoint again with the current code",
    "metric": "compare evaluations of one task",
}
"""Fields of eval.json that decide the episode list and its success test, each with the fix for
two files that differ in it: same task, seed, count, world revision and protocol version give
the same starts and goals (``envs.tasks``)."""


def column(record: dict[str, Any]) -> str:
    """The per-episode column an evaluation is scored by: ``return`` or ``success``."""
    return "return" if record.get("metric") == "return" else "success"


def load_eval(path: str) -> dict[str, Any]:
    """The evaluation in ``path`` (an eval.json, or the run folder holding one)."""
    file = Path(path)
    if file.is_dir():
        file = file / "eval.json"
    if not file.is_file():
        raise InputError(
            f"{path}: no such eval.json; give the file python -m agents.evaluate wrote"
        )
    try:
        record = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{file}: not a JSON file ({e}); is it an eval.json?") from None
    if isinstance(record, dict) and record.get("agent_played") is False:
        raise InputError(
            f"{file}: the agent was not played (eval.agent=false), so there is nothing to compare; "
            f"evaluate with a checkpoint"
        )
    if not isinstance(record, dict) or "per_episode" not in record or "task" not in record:
        raise InputError(
            f"{file}: no per-episode results (per_episode); it is not an eval.json of "
            f"python -m agents.evaluate, or one written before per-episode rows were kept"
        )
    rows, key = record["per_episode"], column(record)
    if key not in rows or "start_distance" not in rows:
        raise InputError(f"{file}: per_episode has no {key!r} or 'start_distance' column")
    if not len(rows[key]) == len(rows["start_distance"]) == record.get("episodes"):
        raise InputError(
            f"{file}: per_episode holds {len(rows[key])} rows for {record.get('episodes')} "
            f"episodes; the file is cut short or edited, evaluate again"
        )
    record["_path"] = str(file)
    return record


def check_pair(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Refuse two evaluations whose episodes are not the same ones, naming the difference."""
    names = f"{a['_path']} and {b['_path']}"
    if Path(a["_path"]).resolve() == Path(b["_path"]).resolve():
        raise InputError(f"{a['_path']} is on both sides of one pair: give a's and b's own files")
    for key, fix in SAME.items():
        if a.get(key) != b.get(key):
            raise InputError(
                f"{names} differ in {key} ({a.get(key)!r} against {b.get(key)!r}): their episodes "
                f"do not pair up; {fix}"
            )
    starts_a, starts_b = a["per_episode"]["start_distance"], b["per_episode"]["start_distance"]
    for i, (sa, sb) in enumerate(zip(starts_a, starts_b, strict=True)):
        if not math.isclose(sa, sb, rel_tol=0, abs_tol=1e-4):
            raise InputError(
                f"{names} start episode {i} at different distances from its goal ({sa} against "
                f"{sb}): not the same episodes (a different world revision or episode list?)"
            )


def sign_test(won: int, lost: int) -> float:
    """Exact two-sided p-value that ``won`` and ``lost`` (the discordant pairs) come from a fair
    coin: McNemar's exact test for paired successes, the sign test for paired returns."""
    n = won + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare_pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One pair of evaluations: each one's score, and the episodes each wins over the other."""
    check_pair(a, b)
    xa, xb = scores(a), scores(b)
    n = len(xa)
    return {
        "a": a["_path"],
        "b": b["_path"],
        "settings_hash": [a.get("settings_hash"), b.get("settings_hash")],
        "episodes": n,
        "a_mean": sum(xa) / n,
        "b_mean": sum(xb) / n,
        "a_won": sum(p > q for p, q in zip(xa, xb, strict=True)),
        "b_won": sum(p < q for p, q in zip(xa, xb, strict=True)),
    }


def scores(record: dict[str, Any]) -> list[float]:
    """Each episode's score (1.0 / 0.0 for success, else its return), in episode order."""
    return [float(x) for x in record["per_episode"][column(record)]]


def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Pair ``cfg.a[i]`` with ``cfg.b[i]``, pool the pairs, test; print, and write ``cfg.out``."""
    if not cfg.a or not cfg.b:
        raise InputError("give both sides: a=[A.json,...] b=[B.json,...] (eval.json files)")
    if len(cfg.a) != len(cfg.b):
        raise InputError(
            f"a has {len(cfg.a)} evaluations and b {len(cfg.b)}: give them in pairs, the i-th of "
            f"a played on the same episodes as the i-th of b"
        )
    evals_a, evals_b = [load_eval(p) for p in cfg.a], [load_eval(p) for p in cfg.b]
    for side, evals in (("a", evals_a), ("b", evals_b)):
        files = [str(Path(e["_path"]).resolve()) for e in evals]
        if len(set(files)) < len(files):
            print(f"warning: {side} names a file twice; its episodes count twice in the pool")
    first = evals_a[0]
    for e in evals_a[1:]:  # pairs may differ in seed, never in what is measured
        for key in ("task", "dmc", "metric"):
            if e.get(key) != first.get(key):
                raise InputError(
                    f"{first['_path']} and {e['_path']} differ in {key} ({first.get(key)!r} "
                    f"against {e.get(key)!r}): the pairs pooled must measure one task"
                )
    pairs = [compare_pair(ea, eb) for ea, eb in zip(evals_a, evals_b, strict=True)]
    metric = column(first)
    xa = [x for e in evals_a for x in scores(e)]
    xb = [x for e in evals_b for x in scores(e)]
    n = len(xa)
    won, lost = sum(p["a_won"] for p in pairs), sum(p["b_won"] for p in pairs)
    # the mean paired difference (for success, a's rate minus b's), with a normal 95% interval
    d = [p - q for p, q in zip(xa, xb, strict=True)]
    mean = sum(d) / n
    half = 1.96 * math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else None
    result: dict[str, Any] = {
        "task": first["task"],
        **({"dmc": first["dmc"]} if "dmc" in first else {}),
        "metric": metric,
        "pairs": pairs,
        "episodes": n,
        # pairs that share an evaluation seed replay the same episodes: not independent ones
        "distinct_episodes": sum(
            max(e["episodes"] for e in evals_a if e["seed"] == seed)
            for seed in {e["seed"] for e in evals_a}
        ),
        "a_mean": sum(xa) / n,
        "b_mean": sum(xb) / n,
        "mean_difference": mean,
        "mean_difference_ci95": None if half is None else [mean - half, mean + half],
        "a_won": won,
        "b_won": lost,
        "p_value": sign_test(won, lost),
        "test": "McNemar exact" if metric == "success" else "sign test (exact)",
        "git_commit": git_commit(),
        "date": datetime.date.today().isoformat(),
    }
    if metric == "success":
        result["a_ci95"] = list(wilson(round(sum(xa)), n))
        result["b_ci95"] = list(wilson(round(sum(xb)), n))
    print(summary(result))
    if cfg.out:
        with atomic_path(cfg.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {cfg.out}")
    return result


def summary(result: dict[str, Any]) -> str:
    """The comparison as a few lines of text: one per pair, then the pooled numbers."""
    success = result["metric"] == "success"

    def score(x: float) -> str:
        return f"{100 * x:.2f}%" if success else f"{x:.1f}"

    lines = [f"{result['task']} {result.get('dmc', '')}".rstrip() + f", {result['metric']}:"]
    for i, p in enumerate(result["pairs"]):
        gap = f" ({100 * (p['a_mean'] - p['b_mean']):+.1f} points)" if success else ""
        lines.append(
            f"  pair {i}: a {score(p['a_mean'])}, b {score(p['b_mean'])}{gap}; a ahead on "
            f"{p['a_won']} of {p['episodes']} episodes, b on {p['b_won']}"
        )
    pooled = f"  pooled over {result['episodes']} episodes: a {score(result['a_mean'])}"
    if success:
        (la, ha), (lb, hb) = result["a_ci95"], result["b_ci95"]
        pooled += f" ({100 * la:.1f}-{100 * ha:.1f}), b {score(result['b_mean'])} "
        pooled += f"({100 * lb:.1f}-{100 * hb:.1f})"
    else:
        pooled += f", b {score(result['b_mean'])}"
    if result["mean_difference_ci95"] is not None:
        lo, hi = result["mean_difference_ci95"]
        scale, unit = (100, " points") if success else (1, "")
        pooled += f"; a - b {scale * lo:+.1f} to {scale * hi:+.1f}{unit} (95%, paired)"
    lines.append(pooled)
    lines.append(
        f"  a ahead on {result['a_won']} episodes, b on {result['b_won']}: "
        f"{result['test']} p = {result['p_value']:.3g}"
    )
    lines.append(
        f"  the test counts episodes ({result['distinct_episodes']} distinct starts and goals), "
        f"not training seeds: the pairs' own spread is the check on those"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from worldmodel.runtime.cli import run_command

    return run_command(
        compare,
        argv,
        config_name="compare",
        schema=CompareConfig,
        usage=USAGE,
        name="agents.compare",
    )
