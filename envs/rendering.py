"""Choosing MuJoCo's OpenGL backend, and explaining what to do when rendering fails.

dm_control picks its backend (glfw, egl or osmesa) once, when it is first imported, from the
``MUJOCO_GL`` environment variable. :func:`ensure_gl_backend` must therefore run before anything
imports ``mujoco`` or ``dm_control``; ``envs/__init__.py`` calls it first thing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_HELP = {
    "egl": (
        "EGL (headless, GPU or Mesa's llvmpipe on CPU): install the EGL and Mesa drivers, e.g. "
        "`apt-get install libegl1 libgl1-mesa-dri`; with several GPUs pick one with "
        "MUJOCO_EGL_DEVICE_ID=<index>"
    ),
    "osmesa": (
        "OSMesa (headless, CPU only, slow): `apt-get install libosmesa6` and set MUJOCO_GL=osmesa"
    ),
    "glfw": "GLFW (needs a display): run under an X server or `xvfb-run`, and set MUJOCO_GL=glfw",
}


def ensure_gl_backend() -> str | None:
    """Select headless EGL rendering when no backend was chosen and there is no display.

    Sets ``MUJOCO_GL=egl`` when ``MUJOCO_GL`` is unset and ``DISPLAY`` is unset or empty; an
    explicit ``MUJOCO_GL`` is always kept. It has no effect once dm_control's renderer has been
    imported, since dm_control reads the variable only then.

    Returns:
        The value of ``MUJOCO_GL`` afterwards (None when dm_control will choose by itself).
    """
    already_imported = "dm_control._render" in sys.modules
    if not already_imported and not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"
    return os.environ.get("MUJOCO_GL")


def gl_error_message(action: str, error: BaseException) -> str:
    """A message for a failed render or renderer import: what was tried and how to fix it.

    Args:
        action: what failed, e.g. "the first render" or "importing dm_control".
        error: the exception that dm_control or MuJoCo raised.
    """
    backend = os.environ.get("MUJOCO_GL")
    tried = (
        f"MUJOCO_GL={backend}"
        if backend
        else "MUJOCO_GL unset (dm_control tried glfw, egl, osmesa)"
    )
    first = [backend] if backend in _HELP else []
    fixes = "\n".join(f"  - {_HELP[name]}" for name in first + [n for n in _HELP if n not in first])
    return (
        f"MuJoCo rendering failed ({action}) with {tried}: "
        f"{type(error).__name__}: {error}\n"
        f"Make one OpenGL backend work, then set MUJOCO_GL before importing envs or dm_control:\n"
        f"{fixes}"
    )


@contextlib.contextmanager
def gl_errors_explained(action: str) -> Iterator[None]:
    """Re-raise any error inside the block as a RuntimeError saying which GL backend failed and
    what to install or set instead (the original error is chained as the cause)."""
    try:
        yield
    except Exception as error:  # dm_control raises ImportError, RuntimeError or OpenGL errors
        raise RuntimeError(gl_error_message(action, error)) from error
