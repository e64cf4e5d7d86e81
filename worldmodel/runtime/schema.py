"""Typed settings: field choices and bounds checked at start-up, doc lines read from the source.

A schema is a dataclass whose fields each have a ``\"\"\"doc\"\"\"`` line under them. A field's
choices live in its metadata (``field(default="cnn", metadata=choices("cnn", "vit"))``) so that
``--help`` can list them and :func:`check` can refuse anything else; bounds are given to
:func:`check` by the section's ``__post_init__``. A field marked ``runtime`` may differ between a
run and its resumption without changing what the run computes.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from collections.abc import Iterator
from typing import Any

from worldmodel.runtime.errors import ConfigError


def choices(*values: str, runtime: bool = False) -> dict[str, Any]:
    """Field metadata: the values a string field accepts."""
    return {"choices": values, "runtime": runtime}


RUNTIME = {"runtime": True}
"""Field metadata: the field changes how a run goes, not what it computes (e.g. threads)."""


def check(
    obj: Any,
    section: str,
    *,
    at_least: dict[str, float] | None = None,
    above: dict[str, float] | None = None,
    below: dict[str, float] | None = None,
) -> None:
    """Refuse a value outside a field's choices or bounds, naming ``section.field``."""
    prefix = f"{section}." if section else ""
    for f in dataclasses.fields(obj):
        allowed = f.metadata.get("choices")
        value = getattr(obj, f.name)
        values = value if isinstance(value, list | tuple) else [value]
        if allowed:
            for v in values:
                if v is not None and v not in allowed:  # None: a default resolved later
                    raise ConfigError(
                        f"{prefix}{f.name}={v!r} is unknown; choose one of {', '.join(allowed)}"
                    )
    for name, low in (at_least or {}).items():
        if getattr(obj, name) is not None and getattr(obj, name) < low:  # None: resolved later
            raise ConfigError(f"{prefix}{name} must be >= {low}, got {getattr(obj, name)}")
    for name, low in (above or {}).items():
        if getattr(obj, name) is not None and not getattr(obj, name) > low:
            raise ConfigError(f"{prefix}{name} must be > {low}, got {getattr(obj, name)}")
    for name, high in (below or {}).items():
        if not getattr(obj, name) < high:
            raise ConfigError(f"{prefix}{name} must be < {high}, got {getattr(obj, name)}")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The ``\"\"\"doc\"\"\"`` line under each field of dataclass ``cls`` (and of its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def section_type(cls: type, name: str) -> type | None:
    """The dataclass of field ``name`` of ``cls`` when that field is a section, else None."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            factory = f.default_factory
            if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
                return factory  # type: ignore[return-value]
            return None
    return None


def leaf_paths(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """Every setting of schema ``cls`` as (dotted path, field), sections expanded."""
    for f in dataclasses.fields(cls):
        sub = section_type(cls, f.name)
        if sub is not None:
            yield from leaf_paths(sub, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f


def has_path(cls: type, path: str) -> bool:
    """Whether ``path`` (``train.steps``, or a section such as ``train``) is in schema ``cls``."""
    head, _, rest = path.partition(".")
    names = {f.name for f in dataclasses.fields(cls)}
    if head not in names:
        return False
    if not rest:
        return True
    sub = section_type(cls, head)
    return sub is not None and has_path(sub, rest)


def runtime_paths(cls: type, base: type | None = None) -> set[str]:
    """Dotted paths of the fields that do not change what a run computes: every field of the
    run section ``base`` (by definition) and every field marked runtime."""
    base_names = {f.name for f in dataclasses.fields(base)} if base else set()
    return {
        path
        for path, f in leaf_paths(cls)
        if path in base_names or f.metadata.get("runtime", False)
    }


def describe(cls: type, values: dict[str, Any], prefix: str = "") -> list[str]:
    """``--help`` lines: each setting, its current value, its choices and its doc line."""
    docs = field_docs(cls)
    lines: list[str] = []
    for f in dataclasses.fields(cls):
        sub = section_type(cls, f.name)
        if sub is not None:
            lines.append(f"\n{prefix}{f.name}:  {docs.get(f.name, '')}".rstrip())
            lines += describe(sub, values.get(f.name) or {}, f"{prefix}{f.name}.")
            continue
        value = values.get(f.name)
        shown = (
            "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        )
        allowed = f.metadata.get("choices")
        extra = f"  [{' | '.join(allowed)}]" if allowed else ""
        lines.append(f"  {prefix}{f.name}={shown}{extra}")
        if docs.get(f.name):
            lines.append(f"      {docs[f.name]}")
    return lines
