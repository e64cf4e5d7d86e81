"""Fit the predictor alone on a frozen encoder's embeddings (``train.refit_steps``).

In the joint objective the predictor also serves the contrast within each sequence, whose
gradient can dwarf the prediction error's: on swimmer6 (contrast at weight 1, temperature
0.01) it is about 8 times the rollout error's on the predictor's weights. Its fit in the units
the rollout diagnostic and the planner's cost use then lags what the embedding allows. Once
the encoder is trained, refitting the predictor to the open-loop error alone is cheap: the
embeddings are computed once and each step is a small MLP on vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.predictor import episode_windows, rollout


def refit_predictor(
    predictor: nn.Module,
    z: torch.Tensor,
    actions: torch.Tensor,
    *,
    history: int,
    horizon: int,
    action_history: bool,
    steps: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
    on_step: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """Train ``predictor`` in place for ``steps`` AdamW steps (constant ``lr``) on the mean
    squared error of its ``horizon``-step open-loop rollouts from every window of the episodes
    z [E, T+1, D] (frozen embeddings), actions [E, T, A]. Returns the mean loss of the first and
    of the last tenth of the steps."""
    dev = next(predictor.parameters()).device
    hist, acts, past, truth = (
        None if x is None else x.to(dev)
        for x in episode_windows(z, actions, history, horizon, action_history)
    )
    assert hist is not None and acts is not None and truth is not None
    opt = torch.optim.AdamW(predictor.parameters(), lr=lr, weight_decay=weight_decay)
    tenth = max(1, steps // 10)
    losses: list[float] = []
    predictor.train()
    for _ in range(steps):
        idx = torch.randint(0, hist.shape[0], (batch_size,), generator=generator).to(dev)
        pred = rollout(predictor, hist[idx], acts[idx], None if past is None else past[idx])
        loss = F.mse_loss(pred.float(), truth[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step()
    return sum(losses[:tenth]) / tenth, sum(losses[-tenth:]) / tenth
