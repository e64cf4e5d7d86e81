"""Latent MPC: encode frames, plan in the world model's latent space toward the goal embedding."""

import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from agents.cuda_graph import CapturedCall, GraphUnsupported
from agents.planners.base import Planner, PlanResult, RolloutFn, shift_plan
from agents.planners.cost import CostConfig, StepDistance, make_cost
from agents.planners.subgoals import Subgoals
from worldmodel.runtime.errors import InputError


class WorldModel(Protocol):
    """What the agent needs from a world model (any class with these members will do)."""

    embed_dim: int
    action_dim: int
    history: int
    """Past embeddings the predictor reads (T)."""
    image_size: int

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live (an attribute or a property will do)."""
        ...

    def encode(self, frames: Any) -> Tensor:
        """uint8 frames ``[B, H, W, 3]`` (numpy or tensor) -> embeddings ``[B, D]``."""
        ...

    def rollout(self, history: Tensor, actions: Tensor) -> Tensor:
        """History ``[B, T, D]`` and actions ``[B, H, A]`` -> predicted embeddings ``[B, H, D]``.

        A model whose attribute ``action_history`` is true also gets ``past_actions
        [B, T-1, A]``, the actions executed between the history's frames, as a third argument."""
        ...


class LatentMPCAgent:
    """Model-predictive control in latent space for E parallel episodes at once.

    ``reset_batch`` encodes the goal images once; each ``act_batch`` encodes only the new frames,
    appends them to a per-episode history of the last ``model.history`` embeddings (padded at the
    first step by repeating the first embedding), and every ``replan_every`` decisions plans all
    episodes in one batch, warm-started from the previous plan shifted by the steps executed since
    (if ``planner.warm_start``). In between it executes the next action of the stored plan.

    Encoding and sampling planners run under ``torch.inference_mode()``; a planner with
    ``needs_grad`` (gd) instead encodes under ``torch.no_grad()`` and plans with gradients enabled,
    since inference tensors cannot be saved for backward. ``autocast_dtype`` (e.g.
    ``torch.bfloat16``) runs encoder and rollout under autocast on the model's device type; the
    planner's maths and the stored embeddings stay fp32.

    Build the planner on ``model.device``; ``seed`` seeds the planner's generator there.
    ``cost`` is the goal cost (:class:`agents.planners.cost.CostConfig`; default: l2, mean over
    all predicted steps); ``distance`` replaces its metric (e.g. a learned distance).
    ``subgoals`` (e.g. :class:`agents.planners.subgoals.GraphSubgoals`) makes it a two-level
    planner: before each plan it turns the goal embedding into a nearer subgoal, and the
    planner plans toward that; its time counts in the decision latency.

    On CUDA with ``cuda_graph`` (and a sampling planner), the first plan for a batch size is
    captured as one CUDA graph (:mod:`agents.cuda_graph`) that every later plan replays: the same
    maths and the same random stream, without the launch overhead of a few thousand small kernels.
    Where this torch cannot capture it, the agent warns once and plans eagerly. ``compile`` also
    runs the captured plan through ``torch.compile`` first (fused kernels; CUDA graphs only),
    which costs a compilation on the first plan.

    Per-decision stats: ``last_plan_ms`` (wall time around the planner call, CUDA synchronised;
    0 when the decision reused the stored plan), ``last_rollout_calls``, ``last_transitions``,
    ``last_plan_cost`` (``[E]`` numpy, the model's cost of the current plan).
    """

    uses_frames = True
    """It encodes the frames (``play`` renders them)."""

    def __init__(
        self,
        model: WorldModel,
        planner: Planner,
        cost: CostConfig | None = None,
        replan_every: int = 1,
        autocast_dtype: torch.dtype | None = None,
        seed: int = 0,
        cuda_graph: bool = True,
        compile: bool = False,
        distance: StepDistance | None = None,
        subgoals: Subgoals | None = None,
    ) -> None:
        horizon = planner.horizon
        if not 1 <= replan_every <= horizon:
            raise InputError(
                f"replan_every={replan_every} must be between 1 and the planner horizon {horizon}: "
                "the stored plan has only that many actions"
            )
        self.model = model
        self.planner = planner
        self.cost = cost or CostConfig()
        self.distance = distance
        self.subgoals = subgoals
        self.replan_every = replan_every
        self.autocast_dtype = autocast_dtype
        self.device = torch.device(model.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.last_plan_ms = 0.0
        self.last_rollout_calls = 0
        self.last_transitions = 0
        self.last_plan_cost: np.ndarray | None = None
        self.current_plan: Tensor | None = None
        """The current plan ``[E, H, A]``; the agent executes its actions in order until it replans."""
        self._z_goal: Tensor | None = None  # [E, D]
        self._history: Tensor | None = None  # [E, T, D]
        self._past: Tensor | None = None
        """The actions executed between the history's frames ``[E, T-1, A]`` (zeros before the
        first), for a model with ``action_history``; else None."""
        self._steps_since_plan = 0
        self.cuda_graph = (
            cuda_graph and self.device.type == "cuda" and not getattr(planner, "needs_grad", False)
        )
        self.compile = compile and self.cuda_graph
        self._graphs: dict[int, CapturedCall] = {}  # batch size -> captured plan

    # ------------------------------------------------------------------ episodes
    def reset(self, goal_image: Any) -> None:
        """Start one episode toward ``goal_image [H, W, 3]``."""
        self.reset_batch(goal_image[None])

    def act(self, frame: Any) -> np.ndarray:
        """The action ``[A]`` for the current frame ``[H, W, 3]`` of the single episode."""
        return self.act_batch(frame[None])[0]

    def reset_batch(self, goal_images: Any) -> None:
        """Start E episodes toward ``goal_images [E, H, W, 3]`` (uint8); encodes them once."""
        with self._no_grad_context(), self._autocast():
            self._z_goal = self.model.encode(goal_images).float()  # [E, D]
        if self.subgoals is not None:
            self.subgoals.reset(self._z_goal)
        self._history = self._past = None
        self.current_plan = None
        self._steps_since_plan = 0
        self.last_plan_cost = None

    def act_batch(self, frames: Any) -> np.ndarray:
        """Actions ``[E, A]`` (float32 numpy, in [-1, 1]) for the current frames ``[E, H, W, 3]``."""
        if self._z_goal is None:
            raise RuntimeError("call reset_batch(goal_images) before act_batch(frames)")
        batch = self._z_goal.shape[0]
        if len(frames) != batch:
            raise InputError(f"got {len(frames)} frames for {batch} episodes set by reset_batch")
        with self._no_grad_context():
            with self._autocast():
                z = self.model.encode(frames).float()  # [E, D]
            if self._history is None:  # first step: pad by repeating the first embedding
                self._history = z[:, None].expand(-1, self.model.history, -1).clone()  # [E, T, D]
                if getattr(self.model, "action_history", False):  # and with no action before it
                    shape = (batch, self.model.history - 1, self.model.action_dim)
                    self._past = torch.zeros(shape, device=self.device)
            else:
                self._history = torch.cat([self._history[:, 1:], z[:, None]], dim=1)

        if self.current_plan is None or self._steps_since_plan >= self.replan_every:
            self._replan(batch)
        else:
            self.last_plan_ms, self.last_rollout_calls, self.last_transitions = 0.0, 0, 0
        assert self.current_plan is not None
        action = self.current_plan[:, self._steps_since_plan]  # [E, A]
        self._steps_since_plan += 1
        if self._past is not None:  # the action now taken lies between this frame and the next
            self._past = torch.cat([self._past[:, 1:], action[:, None].float()], dim=1)
        return action.float().cpu().numpy()

    # ------------------------------------------------------------------ planning
    def _replan(self, batch: int) -> None:
        init = None
        if self.current_plan is not None and self.planner.warm_start:
            init = shift_plan(self.current_plan, steps=self._steps_since_plan)
        self._synchronize()
        start = time.perf_counter()
        assert self._history is not None and self._z_goal is not None
        goal = self._z_goal  # [E, D]
        if self.subgoals is not None:
            goal = self.subgoals.select(self._history[:, -1])
        if self.cuda_graph:
            result = self._plan_graphed(batch, init, goal)
        else:
            plan_context = nullcontext() if self.planner.needs_grad else torch.inference_mode()
            with plan_context:
                result = self._plan(self._history, goal, init, batch, past=self._past)
        self._synchronize()
        self.last_plan_ms = (time.perf_counter() - start) * 1e3
        self.last_rollout_calls = result.rollout_calls
        self.last_transitions = result.transitions
        self.last_plan_cost = result.cost.float().cpu().numpy()
        self.current_plan = result.actions.detach().clone()
        self._steps_since_plan = 0

    def _plan_graphed(self, batch: int, init: Tensor | None, goal: Tensor) -> PlanResult:
        """One plan toward ``goal [E, D]`` through the CUDA graph captured for ``batch`` episodes
        (captured on first use). A missing warm start is an all-zero one, which is what the
        planners start from anyway."""
        assert self._history is not None
        horizon, action_dim = self.planner.horizon, self.model.action_dim
        with torch.inference_mode():
            if init is None:
                init = torch.zeros(batch, horizon, action_dim, device=self.device)
            inputs: tuple[Tensor, ...] = (self._history, goal, init.float())
            if self._past is not None:
                inputs += (self._past,)
            if batch not in self._graphs:
                try:
                    self._graphs[batch] = CapturedCall(
                        self._plan_fn(batch), inputs, generators=(self.generator,)
                    )
                except GraphUnsupported as err:
                    warnings.warn(f"planning without CUDA graphs: {err}", stacklevel=2)
                    self.cuda_graph = self.compile = False
                    return self._plan(self._history, goal, init, batch, past=self._past)
            return self._graphs[batch](*inputs)

    def _plan_fn(self, batch: int) -> Callable[..., PlanResult]:
        """:meth:`_plan` for ``batch`` episodes as a capturable function of its tensors
        (history, goal, warm start and, with an action history, the past actions; the autocast
        weight cache off, compiled if ``compile``)."""

        def plan(
            history: Tensor, z_goal: Tensor, init: Tensor, past: Tensor | None = None
        ) -> PlanResult:
            return self._plan(history, z_goal, init, batch, autocast_cache=False, past=past)

        return torch.compile(plan, dynamic=False) if self.compile else plan

    def _plan(
        self,
        history: Tensor,
        z_goal: Tensor,
        init: Tensor | None,
        batch: int,
        autocast_cache: bool = True,
        past: Tensor | None = None,
    ) -> PlanResult:
        """One plan from history ``[E, T, D]`` (and the actions between its frames, ``past
        [E, T-1, A]``, or None) toward ``z_goal [E, D]``, warm-started from ``init [E, H, A]``
        (or None)."""
        rollout = self._rollout_fn(history, past)  # expands them (inside the graph, if any)
        cost = make_cost(self.cost, z_goal, self.distance)
        with self._autocast(cache=autocast_cache):
            return self.planner.plan(rollout, cost, batch, init=init, generator=self.generator)

    def _rollout_fn(self, history: Tensor, past: Tensor | None = None) -> RolloutFn:
        """The planner's rollout: actions ``[E, N, H, A]`` -> embeddings ``[E, N, H, D]``,
        one ``model.rollout`` call on the history (and past actions) expanded over the N
        samples."""
        expanded: dict[int, tuple[Tensor, ...]] = {}  # built once per plan, reused after

        def rollout(actions: Tensor) -> Tensor:
            batch, samples, horizon, action_dim = actions.shape
            if samples not in expanded:
                context = (history,) if past is None else (history, past)
                expanded[samples] = tuple(c.repeat_interleave(samples, dim=0) for c in context)
            hist, *rest = expanded[samples]  # [E * N, T, D] (and [E * N, T-1, A])
            flat = actions.reshape(batch * samples, horizon, action_dim)
            z = self.model.rollout(hist, flat, *rest)  # [E * N, H, D]
            return z.reshape(batch, samples, horizon, -1)

        return rollout

    # ------------------------------------------------------------------ contexts
    def _no_grad_context(self) -> AbstractContextManager:
        return torch.no_grad() if self.planner.needs_grad else torch.inference_mode()

    def _autocast(self, cache: bool = True) -> AbstractContextManager:
        # A CUDA graph capture needs the weight-cast cache off (cached casts outlive the capture).
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(
            device_type=self.device.type, dtype=self.autocast_dtype, cache_enabled=cache
        )

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
