"""A toy 2-D world with a wall and one gap, for planners and distances (no MuJoCo, no pixels).

The "embedding" is the position itself: ``z = (x, y)`` in [-1, 1]^2; an action ``a`` in
[-1, 1]^2 moves it by ``STEP * a``; the wall ``|x| < WALL`` (thicker than one step, as walls
are in pixels) blocks every move into it outside the gap ``|y - GAP_Y| < GAP_HALF``. From START to GOAL (on either side of the wall, level with
each other, far from the gap) a straight descent of the Euclidean distance stalls at the wall.
"""

from __future__ import annotations

import numpy as np
import torch

STEP = 0.2
WALL = 0.15
GAP_Y, GAP_HALF = 0.7, 0.15
START = (-0.6, -0.5)
GOAL = (0.6, -0.5)


def _in_wall(z: torch.Tensor) -> torch.Tensor:
    return (z[..., 0].abs() < WALL) & ((z[..., 1] - GAP_Y).abs() > GAP_HALF)


def step(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """z [..., 2], a [..., 2] -> next z [..., 2]: a move into the wall keeps x (slides along
    it), and one that still ends in the wall does not happen."""
    nxt = (z + STEP * a.clamp(-1, 1)).clamp(-1, 1)
    slide = torch.stack([z[..., 0], nxt[..., 1]], dim=-1)
    nxt = torch.where(_in_wall(nxt)[..., None], slide, nxt)
    return torch.where(_in_wall(nxt)[..., None], z, nxt)


def rollout_fn(z0: torch.Tensor):
    """The planner's rollout from ``z0 [E, 2]``: actions [E, N, H, 2] -> positions [E, N, H, 2]."""

    def rollout(actions: torch.Tensor) -> torch.Tensor:
        z = z0[:, None].expand(-1, actions.shape[1], -1)
        out = []
        for h in range(actions.shape[2]):
            z = step(z, actions[:, :, h])
            out.append(z)
        return torch.stack(out, dim=2)

    return rollout


def random_trajectories(episodes: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random-action trajectories (actions held 1-4 steps), starts uniform: [E, T+1, 2]."""
    rng = np.random.default_rng(seed)
    z = torch.from_numpy(rng.uniform(-1, 1, (episodes, 2))).float()
    z[:, 0] = torch.where(_in_wall(z), torch.sign(z[:, 0]) * 0.5, z[:, 0])
    out = [z]
    a = torch.from_numpy(rng.uniform(-1, 1, (episodes, 2))).float()
    hold = rng.integers(1, 5, episodes)
    for _ in range(length):
        renew = hold <= 0
        if renew.any():
            a[renew] = torch.from_numpy(rng.uniform(-1, 1, (int(renew.sum()), 2))).float()
            hold[renew] = rng.integers(1, 5, int(renew.sum()))
        hold -= 1
        z = step(z, a)
        out.append(z)
    return torch.stack(out, dim=1)


def play(policy, decisions: int = 40) -> tuple[bool, float]:
    """Run ``policy(z [1, 2]) -> a [1, 2]`` from START; success when within 0.1 of GOAL."""
    z = torch.tensor([START])
    goal = torch.tensor([GOAL])
    for _ in range(decisions):
        z = step(z, policy(z))
        if float((z - goal).norm()) < 0.1:
            return True, 0.0
    return False, float((z - goal).norm())
