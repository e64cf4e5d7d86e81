"""The README's code for planning in one's own env runs as written (on the session's tiny model)."""

from __future__ import annotations

import re

import numpy as np

from tests.conftest import REPO


def readme_block(heading: str) -> str:
    """The first Python code block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_plan_in_your_own_gymnasium_env_snippet(tiny_run):
    code = readme_block("## Plan in your own Gymnasium env")
    # The snippet as written, pointed at the tiny model (32x32 frames) and at a cheaper planner.
    edits = {
        '"runs/reacher-cpu/checkpoint.pt"': repr(str(tiny_run / "checkpoint.pt")),
        'gym.make("worldmodel/Reacher-v0")': 'gym.make("worldmodel/Reacher-v0", image_size=32)',
        'PlannerConfig(name="cem")': 'PlannerConfig(name="cem", samples=16, iterations=2, elites=4)',
    }
    for old, new in edits.items():
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    agent, action = scope["agent"], scope["agent"].act(scope["frame"])
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)
    assert agent.last_plan_ms > 0
    scope["env"].close()
