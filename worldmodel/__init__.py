"""worldmodel: action-conditioned JEPA world models that plan in latent space.

``worldmodel.load(path, device="auto")`` returns a trained :class:`WorldModel` with
``encode(frames) -> [B, D]`` and ``rollout(history, actions) -> [B, H, D]``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# OpenMP threads that spin while waiting make torch pathologically slow when another process
# shares the cores (measured here: an AdamW step 60x slower, a training step 3x slower with one
# busy neighbour on 2 cores). Passive waiting costs nothing measurable when the cores are free.
# It only takes effect if torch is not imported yet, and never overrides the user's choice.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

if TYPE_CHECKING:
    from worldmodel.model import WorldModel


def load(path: str, device: str = "auto", env: Any = None) -> WorldModel:
    """Load a trained world model for planning (eval mode). See ``worldmodel.api.load``."""
    from worldmodel.api import load as _load

    return _load(path, device=device, env=env)


__all__ = ["load", "__version__"]
