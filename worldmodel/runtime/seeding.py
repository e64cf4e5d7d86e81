"""The one seeding helper: called once per command, never at import time."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int, rank: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and torch (if imported) from ``seed`` (+ ``rank`` under DDP).

    Returns a NumPy Generator for the caller's own sampling; envs are seeded through
    ``env.reset(seed=...)`` and ``action_space.seed(...)`` with values drawn from it.
    """
    seed = int(seed) + 1000 * int(rank)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # collection workers never need torch
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
