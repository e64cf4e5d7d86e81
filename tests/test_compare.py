"""agents.compare: two evaluations paired on the same episodes, McNemar's / the sign test."""

from __future__ import annotations

import json
import math

import pytest

from agents.evaluation.compare import compare, sign_test
from agents.evaluation.config import CompareConfig
from tests.conftest import run_cli
from worldmodel.runtime.errors import InputError


def write_eval(
    path, success=None, returns=None, seed=0, starts=None, task="reacher-pose", protocol_version=2
):
    """A minimal eval.json: the fields agents.compare reads."""
    values = success if success is not None else returns
    n = len(values)
    rows = {"start_distance": starts or [round(0.1 * (i + 1), 5) for i in range(n)]}
    if success is not None:
        rows["success"] = success
    else:
        rows["return"] = returns
    record = {
        "task": task,
        "seed": seed,
        "episodes": n,
        "world_revision": 1,
        "protocol_version": protocol_version,
        "metric": "success" if success is not None else "return",
        "settings_hash": f"hash{seed}",
        "per_episode": rows,
    }
    path.write_text(json.dumps(record))
    return str(path)


def test_sign_test_is_the_exact_binomial():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == pytest.approx(2 / 2**5)  # all five discordant pairs one way
    assert sign_test(3, 3) == 1.0
    assert sign_test(102, 63) == sign_test(63, 102)
    # two-sided tail of Binomial(165, 1/2) at 63, summed directly
    tail = sum(math.comb(165, k) for k in range(64)) / 2**165
    assert sign_test(102, 63) == pytest.approx(2 * tail) and 0.002 < 2 * tail < 0.004


def test_pairs_are_pooled_and_counted_per_episode(tmp_path):
    a0 = write_eval(tmp_path / "a0.json", [True, True, False, True])
    b0 = write_eval(tmp_path / "b0.json", [True, False, False, False])
    a1 = write_eval(tmp_path / "a1.json", [False, True], seed=1)
    b1 = write_eval(tmp_path / "b1.json", [True, True], seed=1)
    out = tmp_path / "cmp.json"
    result = compare(CompareConfig(a=[a0, a1], b=[b0, b1], out=str(out)))
    assert [(p["a_won"], p["b_won"]) for p in result["pairs"]] == [(2, 0), (0, 1)]
    assert (result["a_won"], result["b_won"], result["episodes"]) == (2, 1, 6)
    assert result["a_mean"] == pytest.approx(4 / 6) and result["b_mean"] == pytest.approx(3 / 6)
    assert result["p_value"] == pytest.approx(1.0)  # 2 against 1 is no evidence
    assert result["distinct_episodes"] == 6  # two evaluation seeds: no episode repeats
    assert result["mean_difference"] == pytest.approx(1 / 6)
    lo, hi = result["mean_difference_ci95"]
    assert lo < 1 / 6 < hi
    assert json.loads(out.read_text())["a_won"] == 2


def test_returns_use_the_sign_test_and_a_paired_interval(tmp_path):
    a = write_eval(tmp_path / "a.json", returns=[900.0, 800.0, 850.0, 700.0])
    b = write_eval(tmp_path / "b.json", returns=[800.0, 700.0, 860.0, 600.0])
    result = compare(CompareConfig(a=[a], b=[b]))
    assert result["test"].startswith("sign test")
    assert (result["a_won"], result["b_won"]) == (3, 1)
    lo, hi = result["mean_difference_ci95"]
    assert lo < 72.5 < hi  # the mean paired difference


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": 1}, "differ in seed (0 against 1)"),
        ({"task": "wall-door"}, "differ in task"),
        ({"starts": [0.1, 0.3]}, "start episode 1 at different distances"),
        ({"protocol_version": 1}, "differ in protocol_version (2 against 1)"),
    ],
)
def test_episodes_that_do_not_pair_are_refused(tmp_path, change, message):
    a = write_eval(tmp_path / "a.json", [True, False])
    b = write_eval(tmp_path / "b.json", [True, True], **change)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare(CompareConfig(a=[a], b=[b]))


def test_bad_files_are_named(tmp_path):
    good = write_eval(tmp_path / "good.json", [True])
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "probe.json").write_text(json.dumps({"probe_r2": {}}))
    with pytest.raises(InputError, match="bad.json: not a JSON file"):
        compare(CompareConfig(a=[str(tmp_path / "bad.json")], b=[good]))
    with pytest.raises(InputError, match="probe.json: no per-episode results"):
        compare(CompareConfig(a=[str(tmp_path / "probe.json")], b=[good]))
    with pytest.raises(InputError, match="missing.json: no such eval.json"):
        compare(CompareConfig(a=[str(tmp_path / "missing.json")], b=[good]))
    with pytest.raises(InputError, match="give them in pairs"):
        compare(CompareConfig(a=[good, good], b=[good]))
    with pytest.raises(InputError, match="good.json is on both sides of one pair"):
        compare(CompareConfig(a=[good], b=[good]))
    short = json.loads((tmp_path / "good.json").read_text())
    short["episodes"] = 2  # one row for two episodes: a file cut short
    (tmp_path / "short.json").write_text(json.dumps(short))
    with pytest.raises(InputError, match="short.json: per_episode holds 1 rows for 2 episodes"):
        compare(CompareConfig(a=[str(tmp_path / "short.json")], b=[good]))
    (tmp_path / "baselines.json").write_text(json.dumps({"task": "x", "agent_played": False}))
    with pytest.raises(InputError, match="the agent was not played"):
        compare(CompareConfig(a=[str(tmp_path / "baselines.json")], b=[good]))


def test_compare_two_real_evaluations_end_to_end(tiny_run, cache, tmp_path):
    """Two planners evaluated on the same debug episodes, then compared from the command line."""
    for planner in ("cem", "mppi"):
        run_cli(
            "agents.evaluate",
            "preset=debug",
            f"planner={planner}",
            f"checkpoint={tiny_run}",
            f"run_dir={tmp_path / planner}",
            "progress=false",
            "eval.videos=0",
            cache=cache,
        )
    out = run_cli(
        "agents.compare",
        f"a=[{tmp_path / 'cem'}]",
        f"b=[{tmp_path / 'mppi' / 'eval.json'}]",
        f"out={tmp_path / 'cmp.json'}",
        cache=cache,
    )
    assert "McNemar exact p" in out.stdout
    result = json.loads((tmp_path / "cmp.json").read_text())
    rows = [json.loads((tmp_path / p / "eval.json").read_text()) for p in ("cem", "mppi")]
    wins = [r["per_episode"]["success"] for r in rows]
    assert result["a_won"] == sum(x and not y for x, y in zip(*wins, strict=True))
    assert result["b_won"] == sum(y and not x for x, y in zip(*wins, strict=True))
    assert result["a_mean"] == rows[0]["success_rate"]
    # one value where a list belongs: one line naming the fix
    bad = run_cli("agents.compare", f"a={tmp_path / 'cem'}", "b=[x]", cache=cache, check=False)
    assert bad.returncode == 2 and f"write a=[{tmp_path / 'cem'}]" in bad.stderr
    two = run_cli("agents.compare", "a=x.json,y.json", "b=[x]", cache=cache, check=False)
    assert two.returncode == 2 and "write a=[x.json,y.json]" in two.stderr
