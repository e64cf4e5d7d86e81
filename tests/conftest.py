"""Shared fixtures: an isolated cache, and a tiny trained checkpoint made once per session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    module: str,
    *args: str,
    cache: Path,
    check: bool = True,
    timeout: int = 300,
    cwd: Path | None = None,
    launcher: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` as a user would, with WORLDMODEL_CACHE isolated."""
    env = {"WANDB_MODE": "disabled", **os.environ, "WORLDMODEL_CACHE": str(cache)}
    cmd = [*(launcher or [sys.executable, "-m"]), module, *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd or REPO
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    os.environ["WORLDMODEL_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, cache) -> Path:
    """A reacher model trained with preset=debug (seconds); its run folder."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    run_cli("worldmodel.train", "preset=debug", f"run_dir={run_dir}", "progress=false", cache=cache)
    return run_dir


def interrupt_cli(
    module: str,
    *args: str,
    cache: Path,
    ready: Callable[[], bool],
    timeout: float = 240,
    signum: int = signal.SIGINT,
) -> subprocess.CompletedProcess:
    """Start ``python -m module args``, press Ctrl-C (SIGINT; or send ``signum``) once
    ``ready()``, and wait."""
    env = {"WANDB_MODE": "disabled", **os.environ, "WORLDMODEL_CACHE": str(cache)}
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        # A suite started in the background (`nohup ... &`) inherits SIGINT ignored, and Python
        # then installs no Ctrl-C handler: give the child the default back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"{' '.join(cmd)} ended or stalled before it was ready:\n{out}\n{err}"
            )
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
