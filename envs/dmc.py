"""dm_control suite worlds: any domain/task (``DMCEnv``), and the reacher and point_mass worlds.

The tasks' own machinery does the work: ``suite.load`` builds the task, its
``initialize_episode`` (via the dm_control environment's ``reset``) is the default start, and
one physics control step is ``before_step``, ``physics.step(n_sub_steps)``, ``after_step``,
with ``get_reward`` as the step's reward.
"""

from __future__ import annotations

import copy

import mujoco as mj
import numpy as np

from envs.base import GoalEnv
from envs.rendering import gl_errors_explained
from worldmodel.runtime.errors import ConfigError

with gl_errors_explained("importing dm_control (it loads the OpenGL backend on import)"):
    from dm_control import mujoco, suite
    from dm_control.mujoco.wrapper.mjbindings import enums
    from dm_control.rl import control
    from dm_control.suite import base

# Model fields that dm_control tasks change at reset; DMCEnv finds which entries do.
_PARAM_FIELDS = (
    "body_pos",
    "body_quat",
    "body_mass",
    "geom_pos",
    "geom_quat",
    "geom_size",
    "geom_rgba",
    "site_pos",
    "site_quat",
    "site_size",
    "wrap_prm",
    "actuator_gear",
    "light_pos",
    "light_dir",
)
_PROBE_RESETS = 5


def check_domain_task(domain: str, task: str) -> None:
    """Raise ConfigError listing the valid choices if ``domain``/``task`` is not a suite task."""
    by_domain: dict[str, list[str]] = {}
    for d, t in suite.ALL_TASKS:
        by_domain.setdefault(d, []).append(t)
    if domain not in by_domain:
        raise ConfigError(
            f"unknown dm_control domain {domain!r}; choose one of {sorted(by_domain)} "
            f"(benchmarking tasks: {[f'{d}/{t}' for d, t in suite.BENCHMARKING]})"
        )
    if task not in by_domain[domain]:
        raise ConfigError(
            f"unknown task {task!r} for dm_control domain {domain!r}; choose one of "
            f"{by_domain[domain]}"
        )


_UNBOUNDED = 1e6
"""A control bound this large means the domain sets none (dm_control's lqr uses 1e10)."""


class DMCEnv(GoalEnv):
    """Any dm_control suite task, with goal images (the ``dmc-generic`` world of docs/protocol.md).

    Episode parameters: the entries of the model fields in ``_PARAM_FIELDS`` that the task's
    reset changes (found at construction by a few probe resets), e.g. a target position. Other
    model changes a reset may make (e.g. quadruped/escape's terrain heightfield) are not in it.
    Success: every joint position within 0.1 of the goal's, ``max |qpos - goal qpos| < 0.1``,
    with the difference of a hinge joint's angle wrapped to [-pi, pi) (protocol version 2): a
    pole that swung a full turn is at its goal. Slide joints compare plainly; ball and free
    joints compare their qpos entries (positions and quaternions) as they are.
    """

    success_threshold = 0.1

    def __init__(
        self,
        domain: str = "cartpole",
        task: str = "swingup",
        image_size: int = 64,
        action_repeat: int = 5,
        camera_id: int = 0,
        render_mode: str | None = "rgb_array",
    ) -> None:
        check_domain_task(domain, task)
        self.domain, self.task = domain, task
        # The task's RandomState is reseeded from the env's generator at every reset.
        self._dm_env = suite.load(domain, task, task_kwargs={"random": 0})
        physics = self._dm_env.physics
        n_sub_steps = control.compute_n_steps(self._dm_env.control_timestep(), physics.timestep())
        self._params = self._param_index()
        super().__init__(
            physics,
            n_sub_steps=n_sub_steps,
            image_size=image_size,
            action_repeat=action_repeat,
            camera_id=camera_id,
            render_mode=render_mode,
        )
        spec = self._dm_env.action_spec()
        self._ctrl_low = np.broadcast_to(spec.minimum, spec.shape).astype(np.float64)
        self._ctrl_high = np.broadcast_to(spec.maximum, spec.shape).astype(np.float64)
        # A domain without real control bounds (lqr: +-1e10) takes the action as its control:
        # scaled onto such a range, [-1, 1] would apply forces no simulation survives.
        unbounded = (np.abs(self._ctrl_low) >= _UNBOUNDED) | (np.abs(self._ctrl_high) >= _UNBOUNDED)
        self._ctrl_low = np.where(unbounded, -1.0, self._ctrl_low)
        self._ctrl_high = np.where(unbounded, 1.0, self._ctrl_high)
        self._ctrl_is_unit = bool(np.all(self._ctrl_low == -1) and np.all(self._ctrl_high == 1))
        self._nq, self._nv = physics.model.nq, physics.model.nv
        self._hinge_qpos = hinge_qpos_indices(physics.model)
        self._turning_qpos = hinge_qpos_indices(physics.model, turning_only=True)
        self._qpos_names = qpos_names(physics.model)

    # ---- episode parameters ---------------------------------------------------------------

    def _param_index(self) -> list[tuple[str, tuple[int, ...]]]:
        """(model field, index) of every entry that the task's reset changes."""
        model = self._dm_env.physics.model
        snapshots = []
        for seed in range(_PROBE_RESETS):
            self._dm_env.task.random.seed(seed)
            self._dm_env.reset()
            snapshots.append([getattr(model, name).copy() for name in _PARAM_FIELDS])
        index = []
        for k, name in enumerate(_PARAM_FIELDS):
            values = np.stack([snap[k] for snap in snapshots])
            changed = np.any(values != values[:1], axis=0)
            index += [(name, tuple(int(i) for i in ix)) for ix in np.argwhere(changed)]
        return index

    def _visual_params(self) -> np.ndarray:
        """Positions in :meth:`_episode_params` of the entries that only show: a field of a site
        or a light (swimmer's target light follows its target), a geom's colour, or a field of a
        geom that collides with nothing (reacher's target: its model has contacts off)."""
        model = self._dm_env.physics.model
        no_contacts = bool(model.opt.disableflags & mj.mjtDisableBit.mjDSBL_CONTACT)
        keep = []
        for k, (name, ix) in enumerate(self._params):
            if name.startswith(("site_", "light_")) or name == "geom_rgba":
                keep.append(k)
            elif name.startswith("geom_"):
                geom = ix[0]
                if no_contacts or model.geom_contype[geom] == model.geom_conaffinity[geom] == 0:
                    keep.append(k)
        return np.array(keep, dtype=np.int64)

    def jitter_marker(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """The task's episode parameters that only show (:meth:`_visual_params`, e.g. reacher's
        target) redrawn for every step as the task's own reset draws them; None when the task
        has none (nothing to redraw)."""
        visual = self._visual_params()
        if visual.size == 0:
            return None
        out = np.array(states, dtype=np.float64)  # [T, S]
        cols = self.physics.get_state().size + visual  # the entries' places in a state
        for t in range(len(out)):
            out[t, cols] = self.sample_start(rng)[cols]
        return out

    def _episode_params(self) -> np.ndarray:
        model = self.physics.model
        return np.array([getattr(model, name)[ix] for name, ix in self._params], np.float64)

    def _set_episode_params(self, params: np.ndarray) -> None:
        model = self.physics.model
        for (name, ix), value in zip(self._params, params, strict=True):
            getattr(model, name)[ix] = value

    # ---- world parts ----------------------------------------------------------------------

    def _control_step(self, action: np.ndarray) -> None:
        if not self._ctrl_is_unit:
            action = self._ctrl_low + (action + 1.0) * 0.5 * (self._ctrl_high - self._ctrl_low)
        task = self._dm_env.task
        task.before_step(action, self.physics)
        self.physics.step(self._n_sub_steps)
        task.after_step(self.physics)

    def _native_controls(self, actions: np.ndarray) -> np.ndarray | None:
        """The scaled actions, for tasks that keep dm_control's plain ``before_step`` (set
        ``ctrl``) and ``after_step`` (nothing) and a physics whose ``step`` is MuJoCo's."""
        task = self._dm_env.task
        plain = (
            type(task).before_step is base.Task.before_step
            and type(task).after_step is base.Task.after_step
            and type(self.physics).step is mujoco.Physics.step
        )
        if not plain:
            return None
        if self._ctrl_is_unit:
            return actions
        return self._ctrl_low + (actions + 1.0) * 0.5 * (self._ctrl_high - self._ctrl_low)

    def _reward(self) -> float:
        return float(self._dm_env.task.get_reward(self.physics))

    def sample_start(self, rng: np.random.Generator) -> np.ndarray:
        """The task's own ``initialize_episode``, its RandomState seeded from ``rng``."""
        with self._state_preserved():
            self._dm_env.task.random.seed(int(rng.integers(2**32)))
            self._dm_env.reset()
            return self.get_sim_state()

    def goal_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """``max |qpos - goal qpos|`` over the joints, hinge angles wrapped: ``[..., S]`` -> ``[...]``."""
        nq = self._nq
        diff = qpos_gap(states[..., :nq], goal_state[:nq], self._hinge_qpos)  # [..., nq]
        return diff.max(axis=-1) if nq else np.zeros(diff.shape[:-1])

    def goal_gaps(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, float] | None:
        """``|qpos - goal qpos|`` of each qpos entry (hinges wrapped), by joint name."""
        nq = self._nq
        diff = qpos_gap(np.asarray(state)[:nq], np.asarray(goal_state)[:nq], self._hinge_qpos)
        return {name: float(d) for name, d in zip(self._qpos_names, diff)}

    def state_features(self, states: np.ndarray) -> dict[str, np.ndarray]:
        """``qpos`` and ``qvel`` as stored; ``pose``: qpos with each hinge angle as its sine and
        cosine (a raw angle grows by 2 pi a turn, which no linear probe can follow; the success
        test wraps it too); ``angles``: qpos with only the hinges that can turn over as sine and
        cosine, each limited hinge (range under a full turn) as its angle, which is then one
        continuous number per pose. A limited hinge's cosine is an even function of its angle
        (swimmer's joints stay within 60 degrees of straight, where the cosine is fixed by the
        sine): ``pose`` asks a linear probe for it, ``angles`` does not."""
        states = np.atleast_2d(states)
        nq, nv = self._nq, self._nv
        qpos = states[:, :nq]

        def on_circle(idx: np.ndarray) -> np.ndarray:  # qpos[:, idx] as sine and cosine, last
            angle = qpos[:, idx]
            return np.concatenate([np.delete(qpos, idx, axis=1), np.sin(angle), np.cos(angle)], 1)

        return {
            "qpos": qpos,
            "pose": on_circle(self._hinge_qpos),
            "angles": on_circle(self._turning_qpos),
            "qvel": states[:, nq : nq + nv],
        }


def qpos_names(model) -> list[str]:
    """A name for every qpos entry: the joint's name, with ``[k]`` for each entry of a free or
    ball joint (7 and 4 entries: position, then quaternion)."""
    widths = {
        int(enums.mjtJoint.mjJNT_FREE): 7,
        int(enums.mjtJoint.mjJNT_BALL): 4,
    }
    names = [""] * model.nq
    for j in range(model.njnt):
        name = model.id2name(j, "joint") or f"joint{j}"
        adr, width = int(model.jnt_qposadr[j]), widths.get(int(model.jnt_type[j]), 1)
        for k in range(width):
            names[adr + k] = f"{name}[{k}]" if width > 1 else name
    return names


def hinge_qpos_indices(model, turning_only: bool = False) -> np.ndarray:
    """qpos indices of the model's hinge joints (``jnt_type == mjJNT_HINGE``), one per hinge;
    with ``turning_only``, only those that can turn over: not limited to a range under a full
    turn (``jnt_limited`` and ``jnt_range``)."""
    hinge = np.asarray(model.jnt_type) == int(enums.mjtJoint.mjJNT_HINGE)
    if turning_only:
        span = np.diff(np.asarray(model.jnt_range), axis=1)[:, 0]  # [njnt]
        hinge &= ~(np.asarray(model.jnt_limited, bool) & (span < 2 * np.pi))
    return np.asarray(model.jnt_qposadr)[hinge].astype(np.intp)


def qpos_gap(a: np.ndarray, b: np.ndarray, hinges: np.ndarray) -> np.ndarray:
    """``|a - b|`` of joint positions ``[..., nq]``, the hinge entries (``hinges``, from
    :func:`hinge_qpos_indices`) wrapped to [-pi, pi) first."""
    diff = a - b
    diff[..., hinges] = _wrap(diff[..., hinges])
    return np.abs(diff)


REACHER_LINKS = (0.12, 0.12)
"""Shoulder to wrist and wrist to fingertip, metres (dm_control's reacher.xml: the hand body
at x = .12 on the arm, the finger at x = .12 on the hand)."""


def _fingertip_xy(joints: np.ndarray) -> np.ndarray:
    """Reacher's fingertip in world x, y from its joint angles: ``[N, 2]`` -> ``[N, 2]``."""
    upper, lower = REACHER_LINKS
    elbow = joints[:, :1] + joints[:, 1:2]
    return np.concatenate(
        [
            upper * np.cos(joints[:, :1]) + lower * np.cos(elbow),
            upper * np.sin(joints[:, :1]) + lower * np.sin(elbow),
        ],
        axis=1,
    )


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


class ReacherEnv(DMCEnv):
    """dm_control reacher (two-link planar arm) with goal images.

    State: ``[shoulder, wrist, shoulder vel, wrist vel, target x, target y]``.
    Success (docs/protocol.md): both joint angles within 0.05 rad of the goal's, wrapped.

    Args:
        target_size: "easy" (0.05) or "hard" (0.015), dm_control's reacher target sizes.
        draw_target: when False the target is fully transparent (pose tasks: the goal is a pose).
    """

    success_threshold = 0.05

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int = 5,
        camera_id: int = 0,
        target_size: str = "easy",
        draw_target: bool = False,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if target_size not in ("easy", "hard"):
            raise ValueError(f"target_size must be 'easy' or 'hard', got {target_size!r}")
        super().__init__("reacher", target_size, image_size, action_repeat, camera_id, render_mode)
        self.target_size = target_size
        self.draw_target = bool(draw_target)
        if not self.draw_target:
            model = self.physics.named.model
            model.geom_matid["target"] = -1  # a material would override the geom's colour
            model.geom_rgba["target"] = (0.0, 0.0, 0.0, 0.0)

    def _param_index(self) -> list[tuple[str, tuple[int, ...]]]:
        target = self._dm_env.physics.model.name2id("target", "geom")
        return [("geom_pos", (target, 0)), ("geom_pos", (target, 1))]

    def goal_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Largest wrapped joint-angle difference: ``[..., S]`` -> ``[...]``."""
        return np.abs(_wrap(states[..., :2] - goal_state[:2])).max(axis=-1)

    def goal_gaps(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, float] | None:
        """The two joints' wrapped angle gaps (the target's slide joints are not tested)."""
        gap = np.abs(_wrap(np.asarray(state)[:2] - np.asarray(goal_state)[:2]))
        return {name: float(g) for name, g in zip(self._qpos_names[:2], gap)}

    policy_state = ("joint_sincos", "target_pos", "velocity")
    """The 8 numbers every recorded state SAC run on reacher read; ``fingertip`` and
    ``to_target`` are functions of them, for the probes."""

    def state_features(self, states: np.ndarray) -> dict[str, np.ndarray]:
        """``joint_sincos`` = [sin q1, sin q2, cos q1, cos q2], ``target_pos``, ``velocity``,
        ``fingertip`` (its world x, y) and ``to_target`` (target minus fingertip: the vector
        dm_control's observation gives and the reward is a function of)."""
        states = np.atleast_2d(states)
        joints = states[:, :2]
        tip = _fingertip_xy(joints)
        return {
            "joint_sincos": np.concatenate([np.sin(joints), np.cos(joints)], axis=1),
            "target_pos": states[:, -2:],
            "velocity": states[:, 2:4],
            "fingertip": tip,
            "to_target": states[:, -2:] - tip,
        }

    def fingertip_position(self, state: np.ndarray) -> np.ndarray:
        """World (x, y) of the fingertip in ``state``, by the simulator's kinematics."""
        with self._state_preserved():
            self.set_sim_state(state)
            return self.physics.named.data.geom_xpos["finger", :2].copy()

    def mark_goal(self, states: np.ndarray, k: int) -> np.ndarray | None:
        """The target at the fingertip's position of step ``k``, for every step (None when the
        target is not drawn: there is no marker to move)."""
        if not self.draw_target:
            return None
        out = np.array(states, dtype=np.float64)  # [T, S]
        out[:, -2:] = self.fingertip_position(out[k])
        return out

    def jitter_marker(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """A target drawn per step as dm_control's reacher draws it per episode: a uniform
        angle, a radius uniform in [0.05, 0.20] (None when the target is not drawn)."""
        if not self.draw_target:
            return None
        out = np.array(states, dtype=np.float64)  # [T, S]
        angle = rng.uniform(0.0, 2.0 * np.pi, len(out))
        radius = rng.uniform(0.05, 0.20, len(out))
        out[:, -2:] = radius[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
        return out

    def reach_state(self, state: np.ndarray) -> np.ndarray:
        """``state`` with the arm posed so that the fingertip is on the target, at rest.

        Closed-form two-link inverse kinematics with link lengths read from the model; of the
        two elbow solutions (within the wrist's range) the one nearer ``state``'s pose, by the
        success metric (largest wrapped joint difference), is chosen.
        """
        state = self._check_state(state)
        model = self.physics.named.model
        base = model.body_pos["arm", :2]
        len1, len2 = float(model.body_pos["hand", "x"]), float(model.body_pos["finger", "x"])
        dx, dy = state[-2:] - base
        cos2 = (dx * dx + dy * dy - len1**2 - len2**2) / (2 * len1 * len2)
        elbow = float(np.arccos(np.clip(cos2, -1.0, 1.0)))
        low, high = model.jnt_range["wrist"]
        candidates = []
        for q2 in (elbow, -elbow):
            q2_ok = float(np.clip(q2, low, high))
            q1 = np.arctan2(dy, dx) - np.arctan2(len2 * np.sin(q2_ok), len1 + len2 * np.cos(q2_ok))
            pose = np.array([_wrap(q1), q2_ok])
            distance = float(np.abs(_wrap(pose - state[:2])).max())
            candidates.append((abs(q2_ok - q2) > 0, distance, pose))
        _, _, pose = min(candidates, key=lambda c: (c[0], c[1]))
        goal = state.copy()
        goal[:2] = pose
        goal[2:4] = 0.0
        return goal


class PointMassEnv(DMCEnv):
    """dm_control point_mass (easy) with goal images; the target marker is drawn at the goal, as a
    disc on the floor under the mass (revision 3: :attr:`marker_thickness`).

    State: ``[x, y, x vel, y vel, target x, target y]``; :meth:`pair_states` puts the target at
    the goal's position in both states. Default start and goal: independent uniform positions
    in the arena, at rest. Success (docs/protocol.md): mass within 0.02 of the goal.
    """

    success_threshold = 0.02
    supersample = 4
    """Revision 2 (envs.REVISIONS): the 2-pixel mass moves about 0.4 pixels a decision, and
    MuJoCo's 4 multisamples drew that as jumps of up to 100 levels in one step of 0.0005 m."""

    def __init__(
        self,
        image_size: int = 64,
        action_repeat: int = 5,
        camera_id: int = 0,
        render_mode: str | None = "rgb_array",
    ) -> None:
        super().__init__("point_mass", "easy", image_size, action_repeat, camera_id, render_mode)
        self._flatten_marker()
        self._displacement: dict[int, float] = {}
        """:meth:`free_displacement` by number of control steps, simulated once each."""

    marker_thickness = 0.0005
    """Revision 3 (envs.REVISIONS): the target marker is a disc of dm_control's radius (0.015)
    and this half-thickness, lying on the floor, so the mass (a ball of radius 0.01 resting on
    the floor) is drawn on top of it. dm_control draws a ball of radius 0.015 centred on the
    mass's centre, which hid the mass whenever it sat at the goal: in every goal image."""

    def _flatten_marker(self) -> None:
        """Draw the target as :attr:`marker_thickness`'s disc on the floor. The marker is a
        static geom of the world body and dm_control's model disables contacts, so its shape
        changes no physics, only frames."""
        model = self._dm_env.physics.model
        target = model.name2id("target", "geom")
        if not model.opt.disableflags & int(mj.mjtDisableBit.mjDSBL_CONTACT):
            raise RuntimeError("point_mass's model has contacts on: its marker shape could act")
        radius = float(model.geom_size[target, 0])
        model.geom_type[target] = mj.mjtGeom.mjGEOM_CYLINDER
        model.geom_size[target] = [radius, self.marker_thickness, 0.0]
        model.geom_pos[target, 2] = self.marker_thickness

    def _param_index(self) -> list[tuple[str, tuple[int, ...]]]:
        target = self._dm_env.physics.model.name2id("target", "geom")
        return [("geom_pos", (target, 0)), ("geom_pos", (target, 1))]

    def sample_goal(self, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A position uniform in the arena, at rest (as ``point_mass-goal``).

        Unlike the other dm_control worlds the default goal is not 25 random steps away: the
        easy point mass barely moves in 25 steps, so such goals would nearly always already be
        within the 0.02 success radius.
        """
        return self.sample_start(rng)

    def pair_states(self, start: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both states get the target marker at the goal's mass position."""
        start = self._check_state(start).copy()
        goal = self._check_state(goal).copy()
        start[-2:] = goal[:2]
        goal[-2:] = goal[:2]
        return start, goal

    def can_reach(self, start: np.ndarray, goal: np.ndarray, env_steps: int) -> bool:
        """Whether the mass, at rest in ``start``, could come within the success radius of the
        goal in ``env_steps`` control steps.

        Each axis is driven by its own actuator (easy task), and its dynamics are linear with a
        non-negative response to force, so the farthest it can move from rest in n steps is the
        displacement under full thrust, D(n), and the positions it can reach are the box
        start +- D(n) (arena walls and joint limits only shrink that set). D is simulated on a
        copy of the model with contacts and limits off. Success after any decision counts;
        D grows with n, so the box at the budget covers them all.
        """
        start, goal = self._check_state(start), self._check_state(goal)
        if np.any(start[2:4] != 0):
            raise ValueError(f"can_reach needs a start at rest, got velocity {start[2:4]}")
        reach = self.free_displacement(int(env_steps))
        gap = np.maximum(np.abs(goal[:2] - start[:2]) - reach, 0.0)
        return bool(np.linalg.norm(gap) < self.success_threshold)

    def free_displacement(self, env_steps: int) -> float:
        """D(n): how far full thrust moves the mass from rest in n control steps, walls off."""
        if env_steps not in self._displacement:
            model = copy.deepcopy(self.physics.model.ptr)
            model.opt.disableflags |= int(
                mj.mjtDisableBit.mjDSBL_CONTACT | mj.mjtDisableBit.mjDSBL_LIMIT
            )
            data = mj.MjData(model)
            data.ctrl[:] = 1.0
            mj.mj_step(model, data, env_steps * self._n_sub_steps)
            moved = data.qpos[:2]
            if not np.allclose(moved[0], moved[1]):  # the axes are alike in the easy task
                raise RuntimeError(f"point_mass axes moved unequally under full thrust: {moved}")
            self._displacement[env_steps] = float(moved[0])
        return self._displacement[env_steps]

    def mark_goal(self, states: np.ndarray, k: int) -> np.ndarray:
        """The target marker at the mass's position of step ``k``, for every step."""
        out = np.array(states, dtype=np.float64)  # [T, S]
        out[:, -2:] = out[k, :2]
        return out

    def jitter_marker(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The target marker at a position drawn as the goals are (:meth:`sample_goal`), anew
        for every step."""
        out = np.array(states, dtype=np.float64)  # [T, S]
        for t in range(len(out)):
            out[t, -2:] = self.sample_start(rng)[:2]
        return out

    def goal_distances(self, states: np.ndarray, goal_state: np.ndarray) -> np.ndarray:
        """Distance of the mass to the goal position: ``[..., S]`` -> ``[...]``."""
        return np.linalg.norm(states[..., :2] - goal_state[:2], axis=-1)

    def goal_gaps(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, float] | None:
        """None: the distance is Euclidean, not the largest of the coordinates' gaps."""
        return None

    def state_features(self, states: np.ndarray) -> dict[str, np.ndarray]:
        states = np.atleast_2d(states)
        return {
            "position": states[:, :2],
            "velocity": states[:, 2:4],
            "target_pos": states[:, -2:],
        }
