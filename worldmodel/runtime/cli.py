"""Command-line plumbing shared by the entry points: one typed config per command, clear errors.

Each command has a schema (a dataclass, see :mod:`worldmodel.config`) and a YAML file under
``configs/`` whose defaults list names the Hydra groups it takes (``env=``, ``preset=``,
``planner=``). A preset is a bundle of sizes for the whole pipeline; each command keeps the parts
its schema has. A ``key=value`` the command does not have is refused with the field to use.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldmodel.runtime.errors import InputError, Interrupted
from worldmodel.runtime.paths import configs_dir
from worldmodel.runtime.schema import describe, has_path, leaf_paths, section_type

T = TypeVar("T")


def sweeps_refused(command: str) -> str:
    """The refusal of a Hydra sweep, with the shell loop that does one."""
    return (
        f"sweeps (-m / --multirun, or key=a,b) are not supported: run the command in a shell "
        f"loop, e.g. for s in 0 1 2; do python -m {command} seed=$s run_dir=runs/sweep-$s; done"
    )


def takes_a_list(key: str, value: str) -> str:
    """The refusal of ``key=value`` where ``key`` takes a list, with the list to write instead."""
    return f"{key}={value} is not a list; {key} takes one: write {key}=[{value}]"


class UsageError(SystemExit):
    """A bad command line or bad input: printed as one clear message, exit status 2."""

    def __init__(self, message: str):
        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for every rank
            print(f"error: {message}", file=sys.stderr)
        super().__init__(2)


def load_config(
    argv: Sequence[str] | None = None,
    *,
    config_name: str = "config",
    schema: type[T],
    usage: str = "",
    name: str = "worldmodel.train",
    hints: dict[str, str] | None = None,
) -> T:
    """Compose ``configs/<config_name>.yaml`` with ``key=value`` overrides into a ``schema``.

    A setting the schema does not have, an unknown choice (``env=foo``), a value of the wrong
    type or out of its field's choices or bounds exits with a one-line message that names the
    field (and, for a field of another command, the one to use: ``hints``) instead of a traceback.
    ``--help`` prints ``usage`` and the command's own settings with their doc lines.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    want_help = any(a in ("-h", "--help") for a in args)
    args = [a for a in args if a not in ("-h", "--help")]
    if any(a in ("-m", "--multirun") or a.startswith("hydra.mode=") for a in args):
        raise UsageError(sweeps_refused(name))
    bad = [a for a in args if "=" not in a or a.startswith("-")]
    if bad:
        raise UsageError(
            f"cannot read argument {bad[0]!r}: settings are given as key=value, "
            f"e.g. env=reacher seed=1 (see --help)"
        )
    groups = command_groups(config_name)
    _check_overrides(args, schema, groups, name, hints or {})
    # A setting that no YAML file names is still the schema's: add it (++), typed by the merge.
    args = [a if a.split("=")[0].lstrip("+~") in groups else "++" + a.lstrip("+") for a in args]
    composed = _compose(config_name, args)
    values = _keep(OmegaConf.to_container(composed, resolve=True), schema)  # type: ignore[arg-type]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
        if want_help:
            _print_help(usage, schema, groups, OmegaConf.to_container(merged))  # type: ignore[arg-type]
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except InputError as e:  # a schema's own checks: a value out of its choices or bounds
        raise UsageError(str(e)) from None
    except OmegaConfBaseException as e:  # a value of the wrong type
        key = getattr(e, "full_key", None)
        if key and "is not a ListConfig" in str(e):  # one value where the field takes a list
            raise UsageError(takes_a_list(key, str(getattr(e, "value", "x")))) from None
        if key:
            raise UsageError(f"{key}: {str(e).strip().splitlines()[0]}") from None
        raise UsageError(_explain(e)) from None


def command_groups(config_name: str) -> dict[str, list[str]]:
    """The Hydra groups a command takes (its YAML's defaults list) and each group's choices."""
    root = configs_dir()
    loaded = OmegaConf.load(root / f"{config_name}.yaml")
    defaults = loaded.get("defaults", []) if isinstance(loaded, DictConfig) else []
    groups = {}
    for entry in defaults:
        if isinstance(entry, dict) or OmegaConf.is_dict(entry):
            for group in entry:
                groups[str(group)] = sorted(p.stem for p in (root / str(group)).glob("*.yaml"))
    return groups


def run_command(
    command: Callable[[Any], Any],
    argv: Sequence[str] | None,
    *,
    errors: tuple[type[BaseException], ...] = (),
    **load_kwargs: Any,
) -> Any:
    """Parse the command line (see :func:`load_config`) and run ``command(cfg)``.

    Bad input (:class:`InputError`, and any extra ``errors``) becomes one clear message and exit
    status 2; Ctrl-C one line and status 130. SIGTERM (``kill``, a scheduler's preemption) is
    handled as Ctrl-C is (training saves its checkpoint, collection keeps its finished shards),
    with status 143. Any other exception is a bug: its traceback stays.
    """
    cfg = load_config(argv, **load_kwargs)
    name = load_kwargs.get("name", command.__module__)
    bad_input: tuple[type[BaseException], ...] = (InputError, *errors)
    received: list[int] = []
    try:
        with _sigterm_as_interrupt(received):
            return command(cfg)
    except bad_input as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt as e:
        message = e.message if isinstance(e, Interrupted) else "stopped before it finished"
        if isinstance(e, Interrupted) and e.rerun:
            keys = {r.split("=")[0] for r in e.rerun}
            args = [
                a for a in (sys.argv[1:] if argv is None else argv) if a.split("=")[0] not in keys
            ]
            message += f"; continue with: python -m {name} {' '.join([*args, *e.rerun])}"
        print(f"interrupted: {message}", file=sys.stderr)
        raise SystemExit(128 + (received[0] if received else signal.SIGINT)) from None


@contextlib.contextmanager
def _sigterm_as_interrupt(received: list[int]) -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (and is appended to ``received``), so
    the commands' Ctrl-C handling keeps what was done. Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _compose(config_name: str, overrides: list[str]):
    try:
        with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise UsageError(_explain(e)) from None


def _check_overrides(
    args: list[str], schema: type, groups: dict[str, list[str]], command: str, hints: dict[str, str]
) -> None:
    """Refuse a sweep, or a setting (``seed=``, ``model.depth=``) that ``schema`` does not have."""
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except (HydraException, OmegaConfBaseException) as e:
        raise UsageError(_explain(e)) from None
    for arg, override in zip(args, overrides, strict=True):
        if override.is_sweep_override():
            key = override.key_or_group
            if any(
                path == key and str(f.type).startswith("list") for path, f in leaf_paths(schema)
            ):
                raise UsageError(takes_a_list(key, arg.partition("=")[2]))
            raise UsageError(sweeps_refused(command))
        key = override.key_or_group
        if key in groups:
            value = override.value()
            if value not in groups[key]:
                raise UsageError(
                    f"{key}={value!r} is unknown; choose one of {', '.join(groups[key])}"
                )
            continue
        if has_path(schema, key):
            continue
        raise UsageError(unknown_setting(key, schema, command, hints))


def unknown_setting(key: str, schema: type, command: str, hints: dict[str, str]) -> str:
    """A one-line refusal of ``key``, with the setting to use instead when one is likely."""
    hint = hints.get(key) or hints.get(key.split(".")[0])
    if not hint:
        paths = [path for path, _ in leaf_paths(schema)]
        same_name = [p for p in paths if p.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]
        close = same_name or difflib.get_close_matches(key, paths, n=1)
        hint = f"did you mean {close[0]}?" if close else "see --help for its settings"
    return f"{key} is not a setting of {command}; {hint}"


def _keep(values: dict[str, Any], schema: type) -> dict[str, Any]:
    """The part of a composed config that ``schema`` has (a preset sizes every command)."""
    kept = {}
    for key, value in values.items():
        if not has_path(schema, key):
            continue
        sub = section_type(schema, key)
        kept[key] = _keep(value, sub) if sub is not None and isinstance(value, dict) else value
    return kept


def _print_help(usage: str, schema: type, groups: dict[str, list[str]], values: dict) -> None:
    print(usage.strip())
    if groups:
        print("\nGroups (pick one as group=choice):")
        for group, options in groups.items():
            print(f"  {group}={' | '.join(options)}")
    print("\nSettings (override any as key=value; current values shown):")
    print("\n".join(describe(schema, values)))
    raise SystemExit(0)


def _explain(error: BaseException) -> str:
    """Flatten Hydra's chained exceptions into the lines a user needs."""
    lines: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        for line in str(cause).strip().splitlines():
            line = line.strip()
            skip = line.startswith(
                (
                    "To append",
                    "Config search path",
                    "provider=",
                    "full_key",
                    "object_type",
                    "reference_type",
                )
            )
            if line and not skip and "$VALUE" not in line and line not in lines:
                lines.append(line)
        cause = cause.__cause__ or cause.__context__
    lines.append("(run with --help to list every setting and its current value)")
    return "\n".join(lines)
