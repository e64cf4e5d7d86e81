"""``python -m agents.rl``: RL on learned features (see :mod:`agents.rl.train`)."""

import sys

from agents.rl.train import main

main(sys.argv[1:])
