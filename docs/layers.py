"""Draw the package layers from the code: ``python docs/layers.py`` writes ``docs/layers.md``.

Every module of :data:`PACKAGES` is parsed with :mod:`ast` (nothing is imported); each import of
another project module (at the top, inside a function, or under ``TYPE_CHECKING``) becomes an
arrow between the two modules' groups: their sub-package (``agents.planners``,
``worldmodel.runtime``, ...; a module directly in a top-level package belongs to that package),
except that the modules directly in :data:`SPLIT` are drawn one by one, as they sit at different
layers. The arrows go into a Mermaid graph. ``tests/test_layers.py`` checks that every arrow
points down :data:`LAYERS` (bar the :data:`KNOWN_UPWARD` debts) and that the file is up to date;
``python docs/layers.py --check`` does the latter alone.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "worldmodel", "agents", "benchmarks")
"""The project's top-level packages, lowest layer first."""
OUT = ROOT / "docs" / "layers.md"
SPLIT = ("agents",)
"""Packages whose own modules are drawn one by one: ``agents.mpc`` (the MPC agent, above the
planners), ``agents.cuda_graph`` and ``agents.evaluate`` (the command alias, above evaluation)."""

LAYERS = {
    "worldmodel.runtime": 0,
    "envs": 1,
    "worldmodel": 2,
    "agents.cuda_graph": 3,
    "agents.planners": 3,
    "agents.mpc": 4,
    "agents.evaluation": 5,
    "agents.rl": 5,
    "agents.evaluate": 6,
    "agents": 6,
    "benchmarks": 7,
}
"""Layer of each group (the longest matching name counts): a module may import only from groups
of a lower layer. The plumbing (``worldmodel.runtime``) is the floor that every layer uses; then
the worlds, the model, the planners, the MPC agent, evaluation and RL, the benchmarks."""

KNOWN_UPWARD: dict[tuple[str, str], str] = {}
"""Upward imports that exist today, each with what would remove it; drawn as dotted arrows."""


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of :data:`PACKAGES` (a package's
    ``__init__.py`` is named as the package)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def is_package(name: str, known: dict[str, Path]) -> bool:
    return known[name].name == "__init__.py"


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module that an imported dotted ``name`` lives in (the longest known prefix:
    ``worldmodel.config.Config`` -> ``worldmodel.config``), or None outside the project."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in known:
            return prefix
    return None


def imports_of(name: str, known: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` imports."""
    tree = ast.parse(known[name].read_text(), filename=str(known[name]))
    package = name if is_package(name, known) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule pkg.sub when there is one
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for target in targets:
            module = resolve(target, known)
            if module is not None and module != name:
                found.add(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every module of :data:`PACKAGES`."""
    known = modules(root)
    return {name: imports_of(name, known) for name in known}


def group(name: str, known: dict[str, Path]) -> str:
    """The group a module is drawn in: a package is its own, a module its parent's (a module
    directly in a package of :data:`SPLIT` is its own)."""
    if is_package(name, known):
        return name
    parent = name.rpartition(".")[0]
    return name if parent in SPLIT else parent or name


def layer(group_name: str) -> int:
    """The layer of a group in :data:`LAYERS` (its longest listed prefix)."""
    parts = group_name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise KeyError(f"{group_name}: not in LAYERS of docs/layers.py; give it a layer there")


def upward(root: Path = ROOT) -> list[tuple[str, str]]:
    """Module imports ``(importer, imported)`` whose group is not on a lower layer than the
    importer's (within one group, anything goes), apart from :data:`KNOWN_UPWARD`."""
    known = modules(root)
    found = []
    for name, targets in sorted(import_graph(root).items()):
        for target in sorted(targets):
            a, b = group(name, known), group(target, known)
            if a != b and layer(b) >= layer(a) and (name, target) not in KNOWN_UPWARD:
                found.append((name, target))
    return found


def layer_edges(root: Path = ROOT) -> set[tuple[str, str]]:
    """Arrows ``(importer's sub-package, imported one's)`` between different sub-packages."""
    known = modules(root)
    edges = set()
    for name, targets in import_graph(root).items():
        for target in targets:
            a, b = group(name, known), group(target, known)
            if a != b:
                edges.add((a, b))
    return edges


def render(root: Path = ROOT) -> str:
    """``docs/layers.md``: a Mermaid graph of the sub-packages, one box per top-level package."""
    known = modules(root)
    groups = sorted({group(name, known) for name in known}, key=lambda g: (g.split(".")[0], g))
    node = {g: g.replace(".", "_") for g in groups}
    lines = [
        "# Package layers",
        "",
        "Generated by `python docs/layers.py` from the imports in the code (do not edit by hand;",
        "`tests/test_layers.py` fails when this file is out of date). An arrow `a --> b` means a",
        "module of `a` imports a module of `b`. Arrows point down the layers: `benchmarks` ->",
        "`agents` (evaluation and rl -> the MPC agent `agents.mpc` -> `agents.planners`) ->",
        "`worldmodel` -> `envs`, with the plumbing `worldmodel.runtime` as the floor every layer",
        "uses. A dotted arrow is a known upward import, with what would remove it:",
        "",
        *[f"- `{a}` imports `{b}`: {why}." for (a, b), why in sorted(KNOWN_UPWARD.items())],
        "",
        "```mermaid",
        "graph TD",
    ]
    for package in PACKAGES:
        lines.append(f"  subgraph {package}_pkg [{package}]")
        for g in groups:
            if g.split(".")[0] == package:
                lines.append(f'    {node[g]}["{g}"]')
        lines.append("  end")
    upward_groups = {(group(a, known), group(b, known)) for a, b in KNOWN_UPWARD}
    for a, b in sorted(layer_edges(root)):
        arrow = "-.->" if (a, b) in upward_groups else "-->"
        lines.append(f"  {node[a]} {arrow} {node[b]}")
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/layers.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/layers.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
