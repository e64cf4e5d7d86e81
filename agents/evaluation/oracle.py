"""The oracle ceiling: MPC that plans with the true simulator instead of the world model.

It reuses the latent planners unchanged: the "rollout" simulates every candidate action
sequence from the episode's saved simulator state (``env.simulate``), and the "embedding" it
returns is the true goal distance after each decision, so the cost is the true goal distance.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from agents.planners import PlannerConfig, make_planner, shift_plan


class OracleMPC:
    """MPC on the true simulator for E episodes, one env (with its sim state) per episode."""

    uses_frames = False
    """It reads the simulator state, never the frames, so ``play`` may skip rendering them."""

    def __init__(self, envs: list, cfg: PlannerConfig, seed: int = 0, path_cost: bool = False):
        self.envs = [e.unwrapped for e in envs]
        self.cfg = cfg
        self.path_cost = path_cost
        """Score by the shortest free way to the goal (``env.path_distances``, round walls)
        instead of the straight goal distance."""
        self.action_dim = int(envs[0].action_space.shape[0])
        self.planner = make_planner(cfg, self.action_dim, torch.device("cpu"))
        self.generator = torch.Generator().manual_seed(seed)
        threads = min(len(self.envs), os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(threads)  # simulates the episodes in parallel
        self.plan: torch.Tensor | None = None
        self.last_plan_ms = 0.0
        self.last_rollout_calls = 0
        self.last_transitions = 0

    def reset_batch(self, goal_images) -> None:
        self.plan = None

    def act_batch(self, frames) -> np.ndarray:
        states = [e.get_sim_state() for e in self.envs]
        goals = [e.goal_state for e in self.envs]

        def rollout(actions: torch.Tensor) -> torch.Tensor:  # [E, N, H, A] -> [E, N, H, 1]
            acts = actions.double().numpy()
            out = np.empty(acts.shape[:3] + (1,))

            def simulate(i: int) -> None:
                traj = self.envs[i].simulate(states[i], acts[i])  # [N, H, S]
                env = self.envs[i]
                score = env.path_distances if self.path_cost else env.goal_distances
                out[i, ..., 0] = score(traj, goals[i])

            # Each episode has its own simulator; MuJoCo's native rollout releases the GIL.
            list(self._pool.map(simulate, range(len(self.envs))))
            return torch.from_numpy(out).float()

        def cost(dist: torch.Tensor) -> torch.Tensor:  # [E, N, H, 1] -> [E, N]
            return dist[..., 0].mean(-1)  # the true goal distance, mean over the horizon

        init = shift_plan(self.plan) if self.plan is not None else None
        start = time.perf_counter()
        result = self.planner.plan(
            rollout, cost, len(self.envs), init=init, generator=self.generator
        )
        self.last_plan_ms = (time.perf_counter() - start) * 1e3
        self.last_rollout_calls, self.last_transitions = result.rollout_calls, result.transitions
        self.plan = result.actions
        return result.actions[:, 0].numpy().astype(np.float32)
