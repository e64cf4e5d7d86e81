"""Training compute, counted rather than guessed: FLOPs of one optimiser step of a model.

``torch.utils.flop_counter.FlopCounterMode`` records every matrix product and convolution (and
attention) that the model's forward pass dispatches, with their true shapes: the count follows
whatever the model does (history windows, rollout steps, inverse dynamics, a decoder), with no
hand-kept formula to drift. As docs/protocol.md defines training compute, a step costs 3 times
its forward pass (the backward pass is counted as twice the forward; the backward that torch
actually runs is 1-2% cheaper, since the pixels need no gradient). Element-wise work
(activations, norms, the regularizer's cosines) is not counted, as is the convention of scaling
studies (Kaplan et al. 2020: C ~ 6ND counts the matrix products only). One multiply-add counts
as 2 FLOPs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], torch.Tensor | None], backward: bool = False) -> int:
    """FLOPs of the matrix products and convolutions ``fn()`` dispatches (and of the backward
    pass of the scalar it returns, when ``backward``)."""
    with FlopCounterMode(display=False) as counter:
        out = fn()
        if backward:
            if out is None or out.dim() != 0:
                raise ValueError("backward=True needs fn() to return a scalar loss")
            out.backward()
    return int(counter.get_total_flops())


def parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def training_step_flops(
    model: nn.Module,
    *,
    batch_size: int,
    length: int,
    image_size: int,
    action_dim: int,
    device: torch.device | str = "cpu",
) -> int:
    """FLOPs of one training step of a JEPA-like ``model`` whose ``forward(obs uint8
    [B, L, H, W, 3], actions [B, L-1, A])`` returns ``(loss, parts)``: 3 x its forward pass
    (docs/protocol.md), counted on a random batch of the given shape in training mode, without
    gradients. The optimiser's update is element-wise and not counted.
    """
    obs = torch.randint(0, 256, (batch_size, length, image_size, image_size, 3), dtype=torch.uint8)
    actions = torch.rand(batch_size, length - 1, action_dim) * 2 - 1
    obs, actions = obs.to(device), actions.to(device)
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            forward = count_flops(lambda: model(obs, actions)[0])
    finally:
        model.train(was_training)
    return 3 * forward
