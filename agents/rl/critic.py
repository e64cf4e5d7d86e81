"""A SAC policy whose critics are regularised: dropout and layer norm after each hidden linear
layer of every Q network, as DroQ (Hiraoka et al., 2022) puts them (Linear -> Dropout ->
LayerNorm -> activation). The actor and the features extractor are SB3's own.

``RegularisedSACPolicy`` is built on first use (module ``__getattr__``), so that SB3 is
imported only when needed; pass it to ``stable_baselines3.SAC`` as the policy with
``policy_kwargs=dict(critic_dropout=p, critic_layer_norm=True)``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from torch import nn

from agents.rl.representation import optional


@functools.cache
def _policy_class() -> type:
    """Build ``RegularisedSACPolicy`` (and its critic) on first use."""
    needed_for = "the regularised SAC critic (rl.critic_dropout, rl.critic_layer_norm)"
    policies: Any = optional("stable_baselines3.common.policies", needed_for)
    torch_layers: Any = optional("stable_baselines3.common.torch_layers", needed_for)
    sac_policies: Any = optional("stable_baselines3.sac.policies", needed_for)

    class RegularisedCritic(policies.ContinuousCritic):
        """SB3's twin Q networks, each rebuilt with Dropout and/or LayerNorm after each hidden
        Linear (same widths and activation)."""

        def __init__(
            self, *args: Any, dropout: float = 0.0, layer_norm: bool = False, **kwargs: Any
        ):
            super().__init__(*args, **kwargs)  # SACPolicy passes every argument by name
            in_dim = kwargs["features_dim"] + int(np.prod(kwargs["action_space"].shape))
            net_arch, activation_fn = kwargs["net_arch"], kwargs.get("activation_fn", nn.ReLU)
            # SB3's own MLP builder, with these modules after each hidden Linear (not the last).
            post: list[Any] = [lambda _: nn.Dropout(dropout)] if dropout > 0 else []
            post += [nn.LayerNorm] if layer_norm else []
            nets: list[nn.Module] = []
            for idx in range(kwargs.get("n_critics", 2)):
                layers = torch_layers.create_mlp(
                    in_dim, 1, net_arch, activation_fn, post_linear_modules=post
                )
                nets.append(nn.Sequential(*layers))
                self.add_module(f"qf{idx}", nets[-1])  # replaces SB3's plain MLP of that name
            self.q_networks = nets

    class RegularisedSACPolicy(sac_policies.SACPolicy):
        """SB3's ``SACPolicy`` (MlpPolicy) with :class:`RegularisedCritic` critics: the online
        critic trains with dropout on; SB3 keeps the target critic in eval mode (no dropout)."""

        def __init__(
            self,
            *args: Any,
            critic_dropout: float = 0.0,
            critic_layer_norm: bool = False,
            **kwargs: Any,
        ):
            # Set before SACPolicy.__init__, which builds the critics (plain values, so
            # nn.Module's attribute handling does not need its own __init__ first).
            self.critic_dropout, self.critic_layer_norm = (
                float(critic_dropout),
                bool(critic_layer_norm),
            )
            super().__init__(*args, **kwargs)

        def make_critic(self, features_extractor: Any = None) -> Any:
            critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
            return RegularisedCritic(
                **critic_kwargs, dropout=self.critic_dropout, layer_norm=self.critic_layer_norm
            ).to(self.device)

        def _get_constructor_parameters(self) -> dict[str, Any]:
            data = super()._get_constructor_parameters()
            data.update(
                critic_dropout=self.critic_dropout, critic_layer_norm=self.critic_layer_norm
            )
            return data

    for cls in (RegularisedCritic, RegularisedSACPolicy):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return RegularisedSACPolicy


def __getattr__(name: str) -> Any:
    if name == "RegularisedSACPolicy":
        return _policy_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
