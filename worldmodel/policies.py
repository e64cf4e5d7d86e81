"""Data-collection policies: how the offline data set explores."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces


class Policy(Protocol):
    """A collection policy: called once per decision; ``reset`` at each episode start."""

    def reset(self) -> None: ...

    def __call__(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray: ...


class PersistentRandomPolicy:
    """Uniform random actions, each held for a uniform number of decisions in 1..persistence.

    Holding actions lets the agent travel further than white noise would, so the data covers the
    reachable states (arm poses, rooms) rather than jittering around the start.
    """

    def __init__(self, action_space: spaces.Box, rng: np.random.Generator, persistence: int = 4):
        if persistence < 1:
            raise ValueError(f"data.persistence must be >= 1, got {persistence}")
        self.low, self.high = action_space.low, action_space.high
        self.rng, self.persistence = rng, persistence
        self._action: np.ndarray | None = None
        self._left = 0

    def reset(self) -> None:
        self._left = 0

    def __call__(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self._left == 0:
            self._action = self.rng.uniform(self.low, self.high).astype(np.float32)
            self._left = int(self.rng.integers(1, self.persistence + 1))
        self._left -= 1
        return self._action  # type: ignore[return-value]


class _CallablePolicy:
    def __init__(self, fn: Callable[[np.ndarray, dict[str, Any]], np.ndarray]):
        self.fn = fn

    def reset(self) -> None:
        if hasattr(self.fn, "reset"):
            self.fn.reset()

    def __call__(self, obs, info):
        return self.fn(obs, info)


def make_policy(
    spec: str, action_space: spaces.Box, rng: np.random.Generator, persistence: int
) -> Policy:
    """Build a policy from ``data.policy``: 'random' or 'package.module:factory'.

    A user factory is called as ``factory(action_space, rng)`` and returns a callable
    ``(obs uint8 [H, W, 3], info) -> action [A]`` (optionally with a ``reset()`` method). It is
    imported by name inside each worker process, so it must live in an importable module.
    """
    if spec == "random":
        return PersistentRandomPolicy(action_space, rng, persistence)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"data.policy={spec!r} is neither 'random' nor 'package.module:factory'; "
            f"e.g. data.policy=mypkg.policies:make_policy"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"data.policy={spec!r} cannot be imported: {e}") from None
    return _CallablePolicy(factory(action_space, rng))
