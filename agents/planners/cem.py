"""Cross-entropy method: sample Gaussian action sequences, refit the Gaussian to the elites."""

from torch import Tensor

from agents.planners.sampling import SamplingPlanner


class CEMPlanner(SamplingPlanner):
    """CEM: the ``elites`` lowest-cost samples, equally weighted, give the next mean and std.

    The sampling loop (one rollout call per iteration for all episodes and samples, clamping,
    best-so-far plan) is :class:`agents.planners.sampling.SamplingPlanner`'s.
    """

    def elite_weights(self, elite_cost: Tensor) -> Tensor:
        return elite_cost.new_full(elite_cost.shape, 1.0 / elite_cost.shape[1])
