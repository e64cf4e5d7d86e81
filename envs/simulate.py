"""The oracle's model: roll the true simulator out from a saved state, many sequences at once.

:meth:`envs.base.GoalEnv.simulate` is the public entry; this module holds how it is done, apart
from the environment interface. Worlds whose control step is plain "set ``ctrl``, then
``n_sub_steps`` × ``mj_step``" (their ``_native_controls`` returns the controls) run every
sequence in MuJoCo's native ``mujoco.rollout``, one episode's candidates on every core; the
others step their ``_control_step`` in Python. Both start each sequence from the same state and
solver warm start, as ``step`` would, and leave no trace in the env.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

# envs/__init__ chose the GL backend, and envs.base loaded mujoco with its error hints, before
# any env (and so any call here) exists.
import mujoco
import mujoco.rollout
import numpy as np

if TYPE_CHECKING:
    from envs.base import GoalEnv


def simulate(env: GoalEnv, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Sim states ``[N, H, S]`` after each decision of ``actions`` ``[N, H, A]`` from ``state``
    ``[S]``; see :meth:`envs.base.GoalEnv.simulate`."""
    actions = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)  # [N, H, A]
    ctrl = env._native_controls(actions)
    if ctrl is None:
        return simulate_python(env, state, actions)
    return simulate_native(env, state, ctrl)


def simulate_python(env: GoalEnv, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """:func:`simulate` by stepping the env's ``_control_step``: ``[N, H, A]`` -> ``[N, H, S]``
    (actions already clipped)."""
    n, horizon = actions.shape[:2]
    out = np.empty((n, horizon, env.state_size))  # [N, H, S]
    with env._state_preserved():
        warmstart = env.physics.data.qacc_warmstart.copy()
        for i in range(n):
            env.set_sim_state(state)
            env.physics.data.qacc_warmstart[:] = warmstart  # each sequence starts alike
            for h in range(horizon):
                for _ in range(env.action_repeat):
                    env._control_step(actions[i, h])
                out[i, h] = env.get_sim_state()
    return out


def simulate_native(env: GoalEnv, state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
    """:func:`simulate` in ``mujoco.rollout``: ctrl ``[N, H, nu]`` -> states ``[N, H, S]``."""
    model, data = env.physics.model.ptr, env.physics.data.ptr
    n, horizon = ctrl.shape[:2]
    steps = env.action_repeat * env._n_sub_steps  # mj_steps per decision
    control = np.repeat(ctrl, steps, axis=1)  # [N, H * steps, nu]
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    initial = np.empty(mujoco.mj_stateSize(model, full))
    with env._state_preserved():
        env.set_sim_state(state)  # also puts the episode parameters into the model
        mujoco.mj_getState(model, data, initial, full)
        warmstart = data.qacc_warmstart.copy()
        traj, _ = mujoco.rollout.rollout(
            model,
            _rollout_data(env, n),
            initial[None],
            control,
            initial_warmstart=warmstart[None],
            # MuJoCo keeps one persistent pool per process, and two calls at once on it crash
            # (the oracle simulates its episodes from worker threads): only the main thread
            # reuses it; other threads get a pool of their own per call.
            persistent_pool=threading.current_thread() is threading.main_thread(),
        )  # [N, H * steps, full state]
        params = env._episode_params()
    traj = traj[:, steps - 1 :: steps]  # [N, H, full state]: after each decision
    out = np.empty((n, horizon, env.state_size))  # [N, H, S]
    physics = _physics_layout(model)
    out[..., : physics.size] = traj[..., physics]
    out[..., physics.size :] = params
    return out


def _rollout_data(env: GoalEnv, n: int) -> list[Any]:
    """MjData for ``mujoco.rollout``: one per thread (up to the cores, at least 8 sequences
    each), so one episode's candidates are simulated on every core; kept on the env for reuse."""
    threads = max(1, min(os.cpu_count() or 1, n // 8))
    pool = env._rollout_pool
    while len(pool) < threads:
        pool.append(mujoco.MjData(env.physics.model.ptr))
    return pool[:threads]


def _physics_layout(model: Any) -> np.ndarray:
    """Indices in an ``mjSTATE_FULLPHYSICS`` vector of ``get_sim_state``'s physics part
    (``physics.get_state()``: qpos, qvel, act and, with plugins, the plugin state)."""
    size = mujoco.mj_stateSize
    s = mujoco.mjtState
    head = size(model, s.mjSTATE_TIME)
    qva = size(model, s.mjSTATE_QPOS | s.mjSTATE_QVEL | s.mjSTATE_ACT)
    skip = size(model, s.mjSTATE_HISTORY)  # between act and plugin state
    plugin = size(model, s.mjSTATE_PLUGIN)
    start = head + qva + skip
    return np.r_[head : head + qva, start : start + plugin]
