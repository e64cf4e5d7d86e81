"""benchmarks/rl_compare.py: arms pooled over summary files, the tests and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmarks import rl_compare


def _summary(path: Path, rep: str, returns: dict[int, float], episodes: int = 50) -> str:
    """A benchmarks/rl_representation.py summary whose rep seeds replay to these returns."""
    runs = [
        {"representation": rep, "seed": s, "final_return": r, "reevaluation": {
            "episodes": episodes, "mean_return": r, "returns": [r] * episodes}}
        for s, r in returns.items()
    ]  # fmt: skip
    runs.append({"representation": "state", "seed": 0, "final_return": 900.0, "reevaluation": {
        "episodes": episodes, "mean_return": 900.0, "returns": [900.0] * episodes}})  # fmt: skip
    path.write_text(json.dumps({"benchmark": "rl_representation", "runs": runs}))
    return str(path)


def test_an_arm_pools_its_files_and_the_tests_match_scipy(tmp_path):
    first = _summary(tmp_path / "first.json", "jepa", {0: 500.0, 1: 400.0})
    later = _summary(tmp_path / "later.json", "jepa", {2: 600.0, 3: 300.0})
    plain = _summary(tmp_path / "plain.json", "jepa", {0: 300.0, 1: 420.0, 2: 350.0, 4: 380.0})
    out = tmp_path / "cmp" / "droq"
    result = rl_compare.main(
        ["--a", f"{first}:jepa", f"{later}:jepa", "--b", f"{plain}:jepa", "--out", str(out)]
    )
    assert result["a"]["seeds"] == [0, 1, 2, 3]
    assert result["a"]["returns"] == [500.0, 400.0, 600.0, 300.0]
    assert result["a"]["mean"] == pytest.approx(450.0)
    d = result["difference"]
    assert d["paired_seeds"] == [0, 1, 2] and d["paired_differences"] == [200.0, -20.0, 250.0]
    assert d["paired_higher"] == 2
    want = stats.ttest_rel([500.0, 400.0, 600.0], [300.0, 420.0, 350.0]).pvalue
    assert d["paired_p"] == pytest.approx(want)
    welch = stats.ttest_ind([500, 400, 600, 300], [300, 420, 350, 380], equal_var=False).pvalue
    assert d["welch_p"] == pytest.approx(welch)
    assert result["ratio"]["value"] == pytest.approx(450.0 / 362.5)
    lo, hi = result["ratio"]["ci95"]
    assert lo < result["ratio"]["value"] < hi
    # An arm's interval does not depend on the side it is on.
    swapped = rl_compare.main(["--a", f"{plain}:jepa", "--b", f"{first}:jepa", f"{later}:jepa"])
    assert swapped["b"]["ci95"] == result["a"]["ci95"]
    assert swapped["a"]["ci95"] == result["b"]["ci95"]
    assert json.loads(out.with_suffix(".json").read_text())["a"]["mean"] == pytest.approx(450.0)
    assert "A is higher on 2" in out.with_suffix(".md").read_text()


def test_hand_kept_summaries_read_with_their_representation_named(tmp_path):
    hand = tmp_path / "hand.json"
    runs = [
        {"seed": s, "return_50": r, "returns_50": [r] * 50} for s, r in ((0, 380.0), (1, 470.0))
    ]
    hand.write_text(json.dumps({"what": "kept by hand", "runs": runs}))
    arm = rl_compare.read_arm([f"{hand}:jepa"])
    assert {s: v["return"] for s, v in arm.items()} == {0: 380.0, 1: 470.0}
    with pytest.raises(rl_compare.CompareError, match="does not say its representation"):
        rl_compare.read_arm([str(hand)])


@pytest.mark.parametrize(
    ("make", "spec", "message"),
    [
        (lambda p: _summary(p, "jepa", {0: 1.0}), "{f}", "holds \\['jepa', 'state'\\]: name one"),
        (lambda p: _summary(p, "jepa", {0: 1.0}), "{f}:pixels", "has no 'pixels' runs"),
        (
            lambda p: p.write_text("{not json") or str(p),
            "{f}",
            "not a benchmarks/rl_representation",
        ),
        (lambda p: _summary(p, "jepa", {0: 1.0}), "{f}:jepa {f}:jepa", "takes each seed once"),
    ],
)
def test_bad_arms_are_refused_with_the_fix(tmp_path, make, spec, message):
    f = make(tmp_path / "s.json")
    with pytest.raises(rl_compare.CompareError, match=message):
        rl_compare.read_arm(spec.format(f=f).split())


def test_a_broken_run_is_refused_with_its_file(tmp_path):
    path = tmp_path / "s.json"
    runs = [{"representation": "jepa", "seed": 0, "reevaluation": {"episodes": 50}}]
    path.write_text(json.dumps({"runs": runs}))
    with pytest.raises(rl_compare.CompareError, match="jepa seed 0: a broken replay"):
        rl_compare.read_arm([f"{path}:jepa"])
    path.write_text(json.dumps({"runs": [{"representation": "jepa"}]}))
    with pytest.raises(rl_compare.CompareError, match="without its seed"):
        rl_compare.read_arm([f"{path}:jepa"])


def test_a_run_never_played_again_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"runs": [{"representation": "jepa", "seed": 0, "final_return": 1.0}]})
    )
    with pytest.raises(rl_compare.CompareError, match="--reuse --reevaluate 50"):
        rl_compare.read_arm([f"{path}:jepa"])


def test_the_command_line_names_the_problem_without_a_traceback(tmp_path, capsys):
    a = _summary(tmp_path / "a.json", "jepa", {0: 1.0, 1: 2.0})
    b = _summary(tmp_path / "b.json", "jepa", {0: 1.0, 1: 2.0}, episodes=10)
    with pytest.raises(SystemExit) as e:
        rl_compare.main(["--a", f"{a}:jepa", "--b", f"{b}:jepa"])
    assert e.value.code == 2
    assert "different numbers of episodes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rl_compare.main(["--a", str(tmp_path / "missing.json"), "--b", f"{b}:jepa"])
    assert "missing.json: not a benchmarks/rl_representation.py summary" in capsys.readouterr().err
    assert np.isfinite(rl_compare.main(["--a", f"{a}:jepa", "--b", f"{a}:state"])["ratio"]["value"])
