"""Two arms of SAC runs, each pooled over ``benchmarks/rl_representation.py`` summaries.

    python -m benchmarks.rl_compare --a NEW.json:jepa MORE.json:jepa --b OLD.json:jepa \
        [--label-a "DroQ critic"] [--label-b "plain critic"] [--out FILE.json]

An arm is one or more ``FILE:REPRESENTATION`` (the representation may be left off when the
file holds one); the seeds of its files are pooled, so that a series whose first seeds ran in
an earlier checkout (``rl_representation.py --first-seed``) reads as one. Each seed's return is
its agent's replay over ``--reevaluate`` episodes (the files must all have it, over the same
number of episodes; a seed given twice in an arm is refused); the summaries kept by hand before
this tool (runs with ``return_50``) read too, with their representation named. Prints and writes: each arm's
per-seed returns, mean ± std and 95% bootstrap interval over seeds; A - B with a paired t-test
on the seeds both ran and Welch's t-test on all; A / B with a 95% bootstrap interval (the two
arms' seeds resampled apart, 10,000 draws, generator seed 0; each arm's own interval is drawn
from seed 0 too, so one arm reads the same in every comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks.rl_representation import mean_ci95, ratio_ci95


class CompareError(ValueError):
    """An arm that cannot be read or pooled; the message names the file and the fix."""


def read_arm(specs: list[str]) -> dict[int, dict]:
    """``["FILE[:REP]", ...]`` -> {seed: {"return", "episodes", "file"}} over the files."""
    seeds: dict[int, dict] = {}
    for spec in specs:
        path, rep = (spec, "") if ":" not in spec or Path(spec).exists() else spec.rsplit(":", 1)
        try:
            summary = json.loads(Path(path).read_text())
            runs = summary["runs"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CompareError(
                f"{path}: not a benchmarks/rl_representation.py summary ({e})"
            ) from None
        if not any("representation" in r for r in runs):  # a hand-kept summary of one arm
            if not rep:
                raise CompareError(f"{path} does not say its representation: name it, FILE:jepa")
            runs = [{**r, "representation": rep, **_hand_kept(r)} for r in runs]
        if not all(isinstance(r, dict) and "seed" in r and "representation" in r for r in runs):
            raise CompareError(f"{path}: a run without its seed or representation")
        reps = sorted({r["representation"] for r in runs})
        if not rep:
            if len(reps) != 1:
                raise CompareError(f"{path} holds {reps}: name one, as {path}:{reps[0]}")
            rep = reps[0]
        if rep not in reps:
            raise CompareError(f"{path} has no {rep!r} runs (it has {reps})")
        for r in runs:
            if r["representation"] != rep or "error" in r:
                continue
            if "reevaluation" not in r:
                raise CompareError(
                    f"{path}: {rep} seed {r['seed']} was not played again; rerun the benchmark "
                    "with --reuse --reevaluate 50"
                )
            if r["seed"] in seeds:
                raise CompareError(
                    f"{rep} seed {r['seed']} is in {seeds[r['seed']]['file']} and in {path}: "
                    "an arm takes each seed once"
                )
            try:
                again = r["reevaluation"]
                seeds[r["seed"]] = {
                    "return": float(again["mean_return"]),
                    "episodes": int(again["episodes"]),
                    "file": path,
                }
            except (KeyError, TypeError, ValueError) as e:
                raise CompareError(
                    f"{path}: {rep} seed {r['seed']}: a broken replay ({e})"
                ) from None
    if not seeds:
        raise CompareError(f"no finished runs in {specs}")
    episodes = {s["episodes"] for s in seeds.values()}
    if len(episodes) > 1:
        raise CompareError(f"{specs}: replays over {sorted(episodes)} episodes; use one number")
    return dict(sorted(seeds.items()))


def _hand_kept(run: dict) -> dict:
    """A run of the summaries kept by hand before this tool (``return_50``, ``returns_50``) in
    the benchmark's own form (``reevaluation``)."""
    if "returns_50" not in run:
        return {}
    return {"reevaluation": {"mean_return": run["return_50"], "episodes": len(run["returns_50"])}}


def compare(a: dict[int, dict], b: dict[int, dict]) -> dict:
    """Two arms of :func:`read_arm` -> each arm's summary, A - B with tests, A / B."""
    out: dict = {}
    for name, arm in (("a", a), ("b", b)):
        x = np.array([s["return"] for s in arm.values()])
        out[name] = {
            "seeds": list(arm),
            "returns": x.tolist(),
            "mean": float(x.mean()),
            "std": float(x.std(ddof=1)) if len(x) > 1 else None,
            "ci95": mean_ci95(x),  # an arm's interval, wherever it stands
            "episodes": next(iter(arm.values()))["episodes"],
            "files": sorted({s["file"] for s in arm.values()}),
        }
    xa, xb = np.array(out["a"]["returns"]), np.array(out["b"]["returns"])
    both = sorted(set(a) & set(b))
    pa, pb = (np.array([arm[s]["return"] for s in both]) for arm in (a, b))
    diffs = pa - pb
    out["difference"] = {
        "mean": float(xa.mean() - xb.mean()),
        "paired_seeds": both,
        "paired_differences": diffs.tolist(),
        "paired_higher": int((diffs > 0).sum()),
        "paired_p": float(stats.ttest_rel(pa, pb).pvalue) if len(both) > 1 else None,
        "welch_p": float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
        if min(len(xa), len(xb)) > 1
        else None,
    }
    out["ratio"] = {"value": float(xa.mean() / xb.mean()), "ci95": ratio_ci95(xa, xb)}
    return out


def markdown(result: dict) -> str:
    a, d, r = result["a"], result["difference"], result["ratio"]
    lines = [f"# {result['label_a']} against {result['label_b']}", ""]
    lines += [f"Each seed: its agent over {a['episodes']} deterministic episodes.", ""]
    lines += ["| arm | seeds | per seed | mean ± std | 95% bootstrap of the mean |", "|---|---|---|---|---|"]  # fmt: skip
    for key in ("a", "b"):
        x = result[key]
        std = f" ± {x['std']:.1f}" if x["std"] is not None else ""
        per_seed = ", ".join(f"{v:.1f}" for v in x["returns"])
        lines.append(
            f"| {result['label_' + key]} | {', '.join(map(str, x['seeds']))} | {per_seed} | "
            f"{x['mean']:.1f}{std} | {x['ci95'][0]:.1f} – {x['ci95'][1]:.1f} |"
        )
    paired = f"paired t p = {d['paired_p']:.2f}" if d["paired_p"] is not None else "no paired test"
    welch = f"Welch p = {d['welch_p']:.2f}" if d["welch_p"] is not None else "no Welch test"
    lines += [
        "",
        f"A - B = {d['mean']:+.1f}; on the {len(d['paired_seeds'])} seeds both ran A is higher on "
        f"{d['paired_higher']} ({paired}); {welch}.",
        f"A / B = {100 * r['value']:.0f}% (95% bootstrap {100 * r['ci95'][0]:.0f}-"
        f"{100 * r['ci95'][1]:.0f}%).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", nargs="+", required=True, metavar="FILE[:REP]", help="arm A's summaries")
    p.add_argument("--b", nargs="+", required=True, metavar="FILE[:REP]", help="arm B's summaries")
    p.add_argument("--label-a", default="A", help="arm A's name in the output")
    p.add_argument("--label-b", default="B", help="arm B's name in the output")
    p.add_argument("--out", help="write the comparison here (.json, and .md beside it)")
    args = p.parse_args(argv)
    try:
        arm_a, arm_b = read_arm(args.a), read_arm(args.b)
    except CompareError as e:
        p.exit(2, f"rl_compare: {e}\n")
    if arm_a[next(iter(arm_a))]["episodes"] != arm_b[next(iter(arm_b))]["episodes"]:
        p.exit(2, "rl_compare: the arms' replays are over different numbers of episodes\n")
    result = {
        "benchmark": "rl_compare",
        "date": time.strftime("%Y-%m-%d"),
        "command": ["python", "-m", "benchmarks.rl_compare", *(argv if argv is not None else sys.argv[1:])],
        "label_a": args.label_a,
        "label_b": args.label_b,
        **compare(arm_a, arm_b),
    }  # fmt: skip
    text = markdown(result)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        out.with_suffix(".md").write_text(text)
    return result


if __name__ == "__main__":
    main()
