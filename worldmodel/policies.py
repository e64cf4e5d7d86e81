"""Data-collection policies: how the offline data set explores."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces

from worldmodel.runtime.errors import InputError


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
            raise InputError(f"data.persistence must be >= 1, got {persistence}")
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
    """A user policy, its actions checked for shape and clipped to the action space (so that
    the stored actions are the ones the env applied)."""

    def __init__(
        self, fn: Callable[[np.ndarray, dict[str, Any]], np.ndarray], spec: str, space: spaces.Box
    ):
        self.fn, self.spec, self.space = fn, spec, space

    def reset(self) -> None:
        if hasattr(self.fn, "reset"):
            self.fn.reset()

    def __call__(self, obs, info):
        action = np.asarray(self.fn(obs, info), np.float32)
        if action.shape != self.space.shape:
            raise InputError(
                f"data.policy={self.spec!r} returned an action of shape {action.shape}; this "
                f"env's actions have shape {self.space.shape}"
            )
        return np.clip(action, self.space.low, self.space.high)


def load_factory(spec: str) -> Callable[..., Any] | None:
    """The factory that ``data.policy`` names ('package.module:factory'); None for 'random'.

    Raises ValueError, naming the setting, when ``spec`` is malformed or cannot be imported.
    """
    if spec == "random":
        return None
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(
            f"data.policy={spec!r} is neither 'random' nor 'package.module:factory'; "
            f"e.g. data.policy=mypkg.policies:make_policy"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise InputError(
            f"data.policy={spec!r} cannot be imported: {e} (is its folder on PYTHONPATH?)"
        ) from None
    if not callable(factory):
        raise InputError(f"data.policy={spec!r} names a {type(factory).__name__}, not a factory")
    return factory


def make_policy(
    spec: str, action_space: spaces.Box, rng: np.random.Generator, persistence: int
) -> Policy:
    """Build a policy from ``data.policy``: 'random' or 'package.module:factory'.

    A user factory is called as ``factory(action_space, rng)`` and returns a callable
    ``(obs uint8 [H, W, 3], info) -> action [A]`` (optionally with a ``reset()`` method); its
    actions are clipped to the action space. It is imported by name inside each worker process,
    so it must live in an importable module.
    """
    factory = load_factory(spec)
    if factory is None:
        return PersistentRandomPolicy(action_space, rng, persistence)
    return _CallablePolicy(factory(action_space, rng), spec, action_space)
