"""Evaluation: PROTOCOL tasks played by the agent and the baselines (``python -m agents.evaluate``)."""
