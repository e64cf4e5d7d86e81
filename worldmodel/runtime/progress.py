"""Progress bars: live on a terminal, a line every 30 s when the output goes to a file."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress(enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar; redrawn at most every 30 s when stderr is not a terminal (logs stay small)."""
    kwargs.setdefault("mininterval", 0.1 if sys.stderr.isatty() else 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(disable=not enabled, **kwargs)
