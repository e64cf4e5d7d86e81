"""Capture a whole plan (every iteration of a sampling planner) as one CUDA graph and replay it.

A CEM plan at the reference settings of docs/protocol.md launches a few thousand small kernels
(30 iterations x 5 predictor steps x a dozen ops, plus sampling and the refit); on a GPU their
launch overhead, not their arithmetic, sets the decision latency. Replaying one captured graph removes that overhead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


class GraphUnsupported(RuntimeError):
    """This torch build or call cannot be captured; use the eager path."""


class CapturedCall:
    """``fn(*inputs)`` captured once as a CUDA graph for fixed input shapes.

    Calling it copies ``inputs`` into the static input tensors, replays the graph and returns
    ``fn``'s (static) outputs, which the next call overwrites: clone what you keep. ``fn`` must
    not synchronise with the host (no ``.item()``, no data-dependent Python branches) and must
    draw random numbers only from the ``generators`` given, which are registered with the graph
    so that every replay advances them as an eager call would.

    Args:
        fn: the function to capture; called with the static inputs.
        example_inputs: tensors on one CUDA device, of the shapes and dtypes of later calls.
        generators: CUDA generators ``fn`` samples from.
        warmup: eager calls on a side stream before the capture (cuBLAS and allocator warm-up).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        example_inputs: tuple[Tensor, ...],
        generators: tuple[torch.Generator, ...] = (),
        warmup: int = 2,
    ) -> None:
        device = example_inputs[0].device
        if device.type != "cuda":
            raise GraphUnsupported(f"CUDA graphs need CUDA tensors, got {device}")
        graph = torch.cuda.CUDAGraph()
        if generators and not hasattr(graph, "register_generator_state"):
            raise GraphUnsupported(
                f"torch {torch.__version__} cannot capture a custom generator in a CUDA graph"
            )
        self.inputs = tuple(x.detach().clone() for x in example_inputs)
        rng_states = [gen.get_state() for gen in generators]
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                fn(*self.inputs)
        torch.cuda.current_stream(device).wait_stream(stream)
        for gen, state in zip(generators, rng_states):  # the warm-up draws do not count
            gen.set_state(state)
        for gen in generators:
            graph.register_generator_state(gen)
        with torch.cuda.graph(graph):
            self.outputs = fn(*self.inputs)
        self.graph = graph

    def __call__(self, *inputs: Tensor) -> Any:
        if len(inputs) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        for static, x in zip(self.inputs, inputs):
            if x.shape != static.shape:
                raise ValueError(
                    f"captured for shape {tuple(static.shape)}, got {tuple(x.shape)}; capture again"
                )
            static.copy_(x)
        self.graph.replay()
        return self.outputs
