"""Where the shipped MuJoCo assets live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


def assets_dir() -> Path:
    """The folder holding our MuJoCo XML files.

    In a checkout it is ``<repo>/assets``; in a wheel, ``envs/_assets`` (see pyproject.toml).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_assets", here.parent / "assets"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"worldmodel assets not found next to {here}: reinstall the package with `pip install .`"
    )
