"""Every result file the README and the results log cite is in the repository."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

DOCS = ["README.md", "docs/results-log.md"]


def expand_braces(path: str) -> list[str]:
    """``a{,-b}.json`` -> ``["a.json", "a-b.json"]``, as the shell expands it (nested: each)."""
    match = re.search(r"\{([^{}]*)\}", path)
    if match is None:
        return [path]
    return [
        name
        for alternative in match.group(1).split(",")
        for name in expand_braces(path[: match.start()] + alternative + path[match.end() :])
    ]


def test_expand_braces():
    assert expand_braces("a/b{,-c}-{x,y}.json") == [
        "a/b-x.json",
        "a/b-y.json",
        "a/b-c-x.json",
        "a/b-c-y.json",
    ]


@pytest.mark.parametrize("doc", DOCS)
def test_cited_result_files_exist(doc):
    text = (REPO / doc).read_text()
    cited = re.findall(r"`(benchmarks/results/[^`\s]+)`", text)
    assert cited, f"{doc} cites no result file"
    missing = [
        path
        for token in cited
        for path in expand_braces(token.rstrip(".,;:"))
        # A glob or a <placeholder> stands for many files: not one path to check.
        if not re.search(r"[*<>]", path) and not (REPO / path).exists()
    ]
    assert not missing, f"{doc} cites files that are not in the repository: {missing}"
