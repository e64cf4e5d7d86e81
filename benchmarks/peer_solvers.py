"""stable-worldmodel's CEM and MPPI solvers, loaded alone and driven with our rollout and cost.

Install (into the benchmark's environment only; never a core dependency):

    pip install "worldmodel[peers]"
    # or, without the peer's heavy dependencies (all the solvers need):
    pip install --no-deps stable-worldmodel==0.1.1 loguru

Why not ``import stable_worldmodel``: its ``__init__`` imports every sub-package (data sets via
lancedb/pylance/pyarrow, envs, world, wrappers, torchvision, ...), none of which the solvers use.
``solver/cem.py`` and ``solver/mppi.py`` import only torch, numpy, gymnasium, loguru and three of
the package's own modules (``solver/solver.py``, ``solver/utils.py``, ``protocols.py``, plus
``solver/callbacks/``, torch only). So :func:`load` registers the two parent packages
``stable_worldmodel`` and ``stable_worldmodel.solver`` as empty package modules pointing at the
installed folders (their ``__init__`` files are not run) and imports ``solver.cem`` and
``solver.mppi`` normally: every line of the peer's solver code that runs is the released code,
nothing is stubbed or patched.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from torch import Tensor

from agents.planners.base import CostFn, RolloutFn

PACKAGE = "stable-worldmodel==0.1.1"
INSTALL_HINT = (
    'pip install "worldmodel[peers]" (or: pip install --no-deps stable-worldmodel==0.1.1 loguru)'
)


def load() -> tuple[dict[str, type], str]:
    """``({"cem": CEMSolver, "mppi": MPPISolver}, how)``; raises ImportError (with the install
    hint) when the package or one of the solvers' few dependencies is missing."""
    loaded = sys.modules.get("stable_worldmodel")
    if loaded is not None and not getattr(loaded, "_solvers_only", False):
        how = "imported stable_worldmodel (already loaded in full)"
    else:
        how = "imported stable_worldmodel.solver.{cem,mppi} without the package __init__"
        spec = importlib.util.find_spec("stable_worldmodel")  # finds it, runs nothing
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"stable-worldmodel is not installed: {INSTALL_HINT}")
        root = Path(next(iter(spec.submodule_search_locations)))
        for name, path in (
            ("stable_worldmodel", root),
            ("stable_worldmodel.solver", root / "solver"),
        ):
            if name in sys.modules:
                continue
            # The package's spec, but its __init__ is not executed: an empty package module.
            package_spec = importlib.util.spec_from_file_location(
                name, path / "__init__.py", submodule_search_locations=[str(path)]
            )
            assert package_spec is not None
            package = importlib.util.module_from_spec(package_spec)
            package._solvers_only = True  # type: ignore[attr-defined]
            sys.modules[name] = package
    try:
        cem = importlib.import_module("stable_worldmodel.solver.cem")
        mppi = importlib.import_module("stable_worldmodel.solver.mppi")
    except ImportError as err:
        raise ImportError(f"stable-worldmodel's solvers need {err.name}: {INSTALL_HINT}") from err
    return {"cem": cem.CEMSolver, "mppi": mppi.MPPISolver}, how


class PeerCost:
    """The peer's ``Costable``: ``get_cost(info, candidates [E, N, H, A]) -> [E, N]`` through our
    agent's rollout and goal cost, counting rollout calls and latent transitions.

    ``use(rollout, cost)`` sets the episode batch's rollout (history expanded over the samples
    once per decision, as the agent does) and cost before each ``solve``; the solver's
    ``info_dict`` (history and goal, which it slices and expands per batch itself) is checked for
    its batch size only. Run the solver with ``batch_size`` = all episodes, as the agent plans.
    """

    def __init__(self) -> None:
        self.rollout: RolloutFn | None = None
        self.cost: CostFn | None = None
        self.rollout_calls = 0
        self.transitions = 0

    def use(self, rollout: RolloutFn, cost: CostFn) -> None:
        self.rollout, self.cost = rollout, cost
        self.rollout_calls = self.transitions = 0

    def get_cost(self, info_dict: dict[str, Any], action_candidates: Tensor) -> Tensor:
        assert self.rollout is not None and self.cost is not None, "call use() before solve()"
        batch, samples, horizon, _ = action_candidates.shape  # [E, N, H, A]
        assert info_dict["goal"].shape[0] == batch, "run the peer with batch_size = episodes"
        self.rollout_calls += 1
        self.transitions += batch * samples * horizon
        return self.cost(self.rollout(action_candidates)).float()  # [E, N]

    criterion = get_cost
