"""``python -m agents.compare``: two evaluations compared on the same episodes (see
:mod:`agents.evaluation.compare`)."""

import sys

from agents.evaluation.compare import compare, main

__all__ = ["compare", "main"]

if __name__ == "__main__":
    main(sys.argv[1:])
