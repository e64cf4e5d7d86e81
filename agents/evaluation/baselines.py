"""Floor policies with the agent's interface: uniform random actions and the zero action."""

from typing import Any

import numpy as np


class _Baseline:
    """Shared episode bookkeeping; a baseline plans nothing, so its plan stats stay zero."""

    uses_frames = False
    """It never looks at the frames, so ``play`` may skip rendering them."""

    def __init__(self, action_dim: int) -> None:
        self.action_dim = action_dim
        self.last_plan_ms = 0.0
        self.last_rollout_calls = 0
        self.last_transitions = 0

    def reset(self, goal_image: Any) -> None:
        """Start one episode (the goal is ignored)."""
        self.reset_batch(goal_image[None])

    def act(self, frame: Any) -> np.ndarray:
        """The action ``[A]`` for the single episode."""
        return self.act_batch(frame[None])[0]

    def reset_batch(self, goal_images: Any) -> None:
        """Start E episodes (the goals are ignored)."""

    def act_batch(self, frames: Any) -> np.ndarray:
        """Actions ``[E, A]`` (float32) for the frames ``[E, H, W, 3]``."""
        raise NotImplementedError


class RandomPolicy(_Baseline):
    """Actions uniform in [-1, 1], from a NumPy generator seeded once at construction."""

    def __init__(self, action_dim: int, seed: int = 0) -> None:
        super().__init__(action_dim)
        self.rng = np.random.default_rng(seed)

    def act_batch(self, frames: Any) -> np.ndarray:
        """Uniform actions ``[E, A]`` in [-1, 1]."""
        shape = (len(frames), self.action_dim)
        return self.rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


class ZeroPolicy(_Baseline):
    """The zero action, always."""

    def act_batch(self, frames: Any) -> np.ndarray:
        """Zero actions ``[E, A]``."""
        return np.zeros((len(frames), self.action_dim), dtype=np.float32)
