"""Console scripts and optional extras, as declared in pyproject.toml (nothing is installed)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
COMMANDS = {
    "worldmodel-collect": "worldmodel.collect:main",
    "worldmodel-train": "worldmodel.train:main",
    "worldmodel-probe": "worldmodel.probe:main",
    "worldmodel-evaluate": "agents.evaluation.evaluate:main",
    "worldmodel-rl": "agents.rl.train:main",
    "worldmodel-report": "worldmodel.report:main",
    "worldmodel-distance": "worldmodel.distance:main",
    "worldmodel-compare": "agents.evaluation.compare:main",
}


def test_console_scripts_are_declared():
    assert {k: PROJECT["scripts"].get(k) for k in COMMANDS} == COMMANDS


@pytest.mark.parametrize("script", list(COMMANDS))
def test_each_script_imports_and_runs_without_argv(script):
    """A console script calls ``main()`` with no argument: main must read sys.argv itself."""
    module, attr = PROJECT["scripts"][script].split(":")
    main = getattr(importlib.import_module(module), attr)
    params = inspect.signature(main).parameters.values()
    assert all(p.default is not inspect.Parameter.empty for p in params), script
    code = f"import sys; sys.argv = [{script!r}, '--help']; from {module} import {attr}; {attr}()"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "key=value" in out.stdout or "Settings" in out.stdout


def test_optional_parts_are_extras_not_requirements():
    required = " ".join(PROJECT["dependencies"])
    assert "wandb" not in required and "matplotlib" not in required
    assert "safetensors" not in required  # declared and never used: dropped
    extras = PROJECT["optional-dependencies"]
    assert any(d.startswith("wandb") for d in extras["wandb"])
    assert any(d.startswith("matplotlib") for d in extras["plots"])


def test_logger_wandb_without_wandb_says_how_to_install(tmp_path, monkeypatch):
    from worldmodel.runtime.runlog import RunLogger

    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(ValueError, match=r'pip install "worldmodel\[wandb\]"'):
        RunLogger(tmp_path, {}, "wandb")
