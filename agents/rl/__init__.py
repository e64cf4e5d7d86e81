"""RL on learned features: Gymnasium wrappers, an SB3 extractor, and ``python -m agents.rl``."""
