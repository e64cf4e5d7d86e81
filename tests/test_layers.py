"""The import graph points down the layers, and docs/layers.md is the picture of it today."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def layers():
    spec = importlib.util.spec_from_file_location("layers", REPO / "docs" / "layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph(layers):
    return layers.import_graph()


def _imports(graph, importer: str, imported: tuple[str, ...]) -> list[str]:
    """``a -> b`` for each module ``a`` under ``importer`` that imports one under ``imported``."""
    return [
        f"{a} -> {b}"
        for a, targets in sorted(graph.items())
        if a == importer or a.startswith(importer + ".")
        for b in sorted(targets)
        if any(b == p or b.startswith(p + ".") for p in imported)
    ]


def test_the_graph_sees_the_imports(graph):
    assert "envs.base" in graph["envs.dmc"]
    assert "agents.planners.cem" in graph["agents.planners.registry"]
    assert "worldmodel.config" in graph["worldmodel.train"]  # from worldmodel.config import ...
    assert "worldmodel.checkpoint" in graph["worldmodel.train"]  # from worldmodel import checkpoint


def test_the_model_never_imports_the_agents_or_the_benchmarks(graph):
    assert _imports(graph, "worldmodel", ("agents", "benchmarks")) == []


def test_the_worlds_import_neither_agents_nor_benchmarks(graph):
    assert _imports(graph, "envs", ("agents", "benchmarks")) == []


def test_the_agents_never_import_the_benchmarks(graph):
    assert _imports(graph, "agents", ("benchmarks",)) == []


def test_no_planner_imports_the_module_that_lists_it(graph):
    lists = ("agents.planners.registry",)
    planners = [m for m in graph if m.startswith("agents.planners.") and m not in lists]
    found = [f"{m} -> {t}" for m in planners for t in graph[m] if t in (*lists, "agents.planners")]
    assert found == []


def test_every_arrow_points_down_a_layer(layers):
    found = layers.upward()
    assert found == [], "imports up the layers of docs/layers.py (LAYERS): " + ", ".join(
        " -> ".join(e) for e in found
    )


def test_known_upward_imports_still_exist(layers, graph):
    """A debt that was paid is struck off KNOWN_UPWARD, so the picture stays true."""
    gone = [f"{a} -> {b}" for a, b in layers.KNOWN_UPWARD if b not in graph.get(a, ())]
    assert gone == [], f"no longer imported; remove from KNOWN_UPWARD in docs/layers.py: {gone}"


def test_docs_layers_md_is_up_to_date(layers):
    assert (REPO / "docs" / "layers.md").read_text() == layers.render(), (
        "docs/layers.md is out of date: run python docs/layers.py"
    )
