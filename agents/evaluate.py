"""``python -m agents.evaluate``: the evaluation command (see :mod:`agents.evaluation.evaluate`)."""

import sys

from agents.evaluation.evaluate import evaluate, main

__all__ = ["evaluate", "main"]

if __name__ == "__main__":
    main(sys.argv[1:])
