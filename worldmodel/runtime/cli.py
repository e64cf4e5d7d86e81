"""Command-line plumbing shared by the entry points: Hydra composition with clear errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from worldmodel.config import Config, register
from worldmodel.runtime.paths import configs_dir

T = TypeVar("T")


class UsageError(SystemExit):
    """A bad command line or bad input: printed as one clear message, exit status 2."""

    def __init__(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        super().__init__(2)


def load_config(
    argv: Sequence[str] | None = None,
    *,
    config_name: str = "config",
    schema: type[T] = Config,  # type: ignore[assignment]
    schema_name: str = "worldmodel_schema",
    usage: str = "",
) -> T:
    """Compose ``configs/<config_name>.yaml`` with ``key=value`` overrides into a typed object.

    Unknown keys, unknown choices (``env=foo``) and values of the wrong type exit with a message
    that names the field and the choices instead of a traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    register(schema_name, schema)
    if any(a in ("-h", "--help") for a in args):
        cfg = _compose(config_name, [a for a in args if a not in ("-h", "--help")])
        print(usage.strip() + "\n\nSettings (override any as key=value):\n")
        print(OmegaConf.to_yaml(cfg))
        raise SystemExit(0)
    bad = [a for a in args if "=" not in a or a.startswith("-")]
    if bad:
        raise UsageError(
            f"cannot read argument {bad[0]!r}: settings are given as key=value, "
            f"e.g. env=reacher seed=1 (see --help)"
        )
    cfg = _compose(config_name, args)
    try:
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except (ValueError, TypeError, OmegaConfBaseException) as e:  # a schema's own checks
        raise UsageError(_explain(e)) from None


def run_command(
    command: Callable[[Any], Any],
    argv: Sequence[str] | None,
    *,
    errors: tuple[type[BaseException], ...] = (ValueError, TypeError),
    **load_kwargs: Any,
) -> Any:
    """Parse the command line (see :func:`load_config`) and run ``command(cfg)``.

    The ``errors`` a command raises for bad input become one clear message and exit status 2.
    """
    cfg = load_config(argv, **load_kwargs)
    try:
        return command(cfg)
    except errors as e:
        raise UsageError(str(e)) from None


def _compose(config_name: str, overrides: list[str]):
    try:
        with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise UsageError(_explain(e)) from None


def _explain(error: BaseException) -> str:
    """Flatten Hydra's chained exceptions into the lines a user needs."""
    lines: list[str] = []
    while error is not None:
        for line in str(error).strip().splitlines():
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
        error = error.__cause__ or error.__context__
    lines.append("(run with --help to list every setting and its current value)")
    return "\n".join(lines)
