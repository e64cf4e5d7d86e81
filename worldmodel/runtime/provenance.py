"""Where a result came from: the git commit and the processor's name (torch-free)."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path


def git_commit() -> str:
    """Short hash of the checkout this package runs from, with ``+dirty`` when tracked files
    differ from it, or 'unknown' (e.g. a wheel install)."""
    cwd = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=cwd,
        )
        commit = out.stdout.strip()
        if not commit:
            return "unknown"
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=10, cwd=cwd
        )
        return commit + ("+dirty" if dirty.returncode == 1 else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"
