"""Model-predictive path integral: a softmax(-cost / temperature) weighted Gaussian update."""

import torch
from torch import Tensor

from agents.planners.sampling import SamplingPlanner


class MPPIPlanner(SamplingPlanner):
    """MPPI: the ``elites`` lowest-cost samples weighted by softmax(-cost / temperature).

    Restricting the softmax to the elites (as TD-MPC2 does) bounds the update when the
    temperature is large for the cost's scale: it then falls back to CEM, never to the mean of
    all samples. Set ``elites = samples`` for textbook MPPI over every sample. ``temperature`` is
    in cost units; small values approach the single best sample. The sampling loop is
    :class:`agents.planners.sampling.SamplingPlanner`'s.
    """

    def elite_weights(self, elite_cost: Tensor) -> Tensor:
        return torch.softmax(-elite_cost / self.cfg.temperature, dim=1)
