"""Conformance and goal-semantics tests of the pixel worlds (small frames, few steps)."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.rendering import ensure_gl_backend, gl_error_message

SIZE = 32
WORLD_KWARGS = {
    "reacher": {},
    "point_mass": {},
    "wall": {},
    "dmc": {"domain": "cartpole", "task": "swingup"},
}


@pytest.fixture(scope="module")
def made():
    """One env per world, shared by the tests of this module; closed at the end."""
    built = {name: envs.make(name, image_size=SIZE, **kw) for name, kw in WORLD_KWARGS.items()}
    yield built
    for env in built.values():
        env.close()


def _actions(env, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, *env.action_space.shape)).astype(np.float32)  # [n, A]


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_interface(made, name):
    env = made[name]
    assert env.observation_space == gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
    assert env.action_space.dtype == np.float32
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    obs, info = env.reset(seed=0)
    assert set(info) == {"goal", "state", "success", "goal_distance", "env_steps"}
    assert info["goal"].shape == (SIZE, SIZE, 3) and info["goal"].dtype == np.uint8
    assert info["state"].dtype == np.float64 and info["state"].shape == (env.state_size,)
    assert info["env_steps"] == 0
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert isinstance(reward, float) and terminated is False and truncated is False
    assert info["env_steps"] == env.action_repeat
    assert np.array_equal(env.render(), obs)
    features = env.state_features(np.stack([info["state"], env.goal_state]))
    assert all(v.shape[0] == 2 and v.ndim == 2 for v in features.values())


def test_state_feature_names(made):
    expected = {
        "reacher": {
            "joint_sincos": 4,
            "target_pos": 2,
            "velocity": 2,
            "fingertip": 2,
            "to_target": 2,
        },
        "point_mass": {"position": 2, "velocity": 2, "target_pos": 2},
        "wall": {"position": 2, "velocity": 2, "door": 1},
        "dmc": {"qpos": 2, "pose": 3, "angles": 3, "qvel": 2},
    }
    for name, widths in expected.items():
        env = made[name]
        env.reset(seed=0)
        features = env.state_features(env.get_sim_state()[None])
        assert {k: v.shape[1] for k, v in features.items()} == widths, name
    # cartpole: the slider as it is, the pole's hinge as sine and cosine (a full turn changes nothing)
    state = made["dmc"].get_sim_state()
    turned = state.copy()
    turned[1] += 2 * np.pi
    pose = made["dmc"].state_features(np.stack([state, turned]))["pose"]
    assert np.allclose(pose[0], pose[1]) and np.isclose(pose[0, 0], state[0])
    assert np.allclose(pose[0, 1:], [np.sin(state[1]), np.cos(state[1])])


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_same_seed_same_frames_and_goals(made, name):
    env, twin = made[name], envs.make(name, image_size=SIZE, **WORLD_KWARGS[name])
    try:
        runs = []
        for e in (env, twin):
            obs, info = e.reset(seed=7)
            frames = [obs] + [e.step(a)[0] for a in _actions(e, 2)]
            runs.append((frames, info["goal"], e.goal_state.copy()))
        (frames_a, goal_a, state_a), (frames_b, goal_b, state_b) = runs
        assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b))
        assert np.array_equal(goal_a, goal_b) and np.array_equal(state_a, state_b)
        env.reset(seed=8)
        assert not np.array_equal(env.goal_state, state_a)
    finally:
        twin.close()


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_goal_semantics(made, name):
    env = made[name]
    obs, info = env.reset(seed=1)
    start, goal = info["state"], env.goal_state
    assert np.array_equal(info["goal"], env.render_state(goal))
    assert np.array_equal(env.render(), obs)  # render_state restored the current state
    assert not info["success"] and not env.is_success(start, goal)
    assert info["goal_distance"] == pytest.approx(env.goal_distance(start, goal))
    assert info["goal_distance"] >= env.success_threshold
    env.set_sim_state(goal)
    assert env.is_success(env.get_sim_state(), goal)
    # An explicit (start, goal) pair is played as given.
    obs, info = env.reset(options={"start": start, "goal": goal})
    assert np.array_equal(info["state"], start) and np.array_equal(env.goal_state, goal)
    assert np.array_equal(obs, env.render_state(start))


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_goal_gaps_are_the_coordinates_whose_largest_is_the_goal_distance(made, name):
    """A world whose success test is every coordinate's gap names them, and the largest gap is
    its goal distance; a world with another distance (point_mass: Euclidean) names none."""
    env = made[name].unwrapped
    env.reset(seed=2)
    start, goal = env.get_sim_state(), env.goal_state
    gaps = env.goal_gaps(start, goal)
    if name in ("point_mass", "wall"):
        assert gaps is None
        return
    assert gaps is not None and max(gaps.values()) == pytest.approx(env.goal_distance(start, goal))
    assert all(g >= 0 for g in gaps.values())
    expected = {"reacher": ["shoulder", "wrist"], "dmc": ["slider", "hinge_1"]}[name]
    assert list(gaps) == expected
    assert max(env.goal_gaps(goal, goal).values()) == 0.0


def test_qpos_names_number_the_entries_of_free_joints():
    from envs.dmc import DMCEnv, qpos_names

    fish = DMCEnv("fish", "swim", image_size=SIZE)
    try:
        names = qpos_names(fish.physics.model)
        assert len(names) == fish.physics.model.nq == len(set(names))
        assert names[:7] == [f"root[{k}]" for k in range(7)]  # position, then quaternion
    finally:
        fish.close()


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_save_restore_and_render_state_leave_no_trace(made, name):
    env = made[name]
    env.reset(seed=2)
    actions = _actions(env, 3, seed=1)
    env.step(actions[0])
    saved, frame = env.get_sim_state(), env.render()
    plain = [env.step(a)[0] for a in actions[1:]]
    env.set_sim_state(saved)
    assert np.array_equal(env.render(), frame)
    env.reset(seed=2)
    env.step(actions[0])
    env.render_state(env.goal_state)
    assert np.array_equal(env.get_sim_state(), saved)
    peeked = [env.step(a)[0] for a in actions[1:]]
    assert all(np.array_equal(a, b) for a, b in zip(plain, peeked))


def test_reacher_target_hidden_unless_drawn(made):
    hidden = made["reacher"]
    shown = envs.make("reacher", image_size=SIZE, draw_target=True)
    try:
        for env, should_differ in ((hidden, False), (shown, True)):
            env.reset(seed=0)
            state = env.get_sim_state()
            moved = state.copy()
            moved[-2:] = -state[-2:]  # the target on the other side of the arena
            differ = not np.array_equal(env.render_state(state), env.render_state(moved))
            assert differ == should_differ
    finally:
        shown.close()


def test_point_mass_target_marks_goal(made):
    env = made["point_mass"]
    _, info = env.reset(seed=0)
    assert np.allclose(info["state"][-2:], env.goal_state[:2])
    assert np.allclose(env.goal_state[-2:], env.goal_state[:2])


def test_point_mass_frames_move_smoothly_under_a_pixel():
    """A step of 0.0005 (a twentieth of a pixel at 64 px) changes the supersampled frame a
    little; MuJoCo's 4 multisamples alone jump a pixel by up to about 100 levels."""
    env = envs.make("point_mass", image_size=64)
    try:
        env.reset(seed=0)
        state = env.get_sim_state()
        state[2:4], state[-2:] = 0.0, 0.25  # at rest, the marker in a corner

        def sweep() -> np.ndarray:  # [N, 64, 64, 3] int
            frames = []
            for x in np.arange(-0.05, 0.0, 0.0005):
                state[:2] = (x, 0.05)
                frames.append(env.render_state(state).astype(int))
            return np.stack(frames)

        smooth = sweep()
        assert env.supersample == 4
        env.supersample = 1  # the same scene, one render per frame (revision 1's frames)
        jumpy = sweep()
    finally:
        env.close()
    moved = np.abs(np.diff(smooth, axis=0)).max()
    assert 0 < moved <= 30, moved
    assert np.abs(np.diff(jumpy, axis=0)).max() > 2 * moved
    # the same picture: only the mass's few pixels differ, by less than a jump
    assert np.abs(smooth - jumpy).mean() < 1.0


def test_point_mass_goal_image_shows_the_mass_on_the_marker():
    """Revision 3: the marker is a disc under the mass, so point_mass-goal's goal image (mass
    and marker at the goal) shows the mass. Revision 2's ball, larger than the mass and centred
    on it, hid it there: the mass's pixels did not change when it left the marker."""
    env = envs.make("point_mass", image_size=64)
    try:
        env.reset(seed=0)
        goal = env.get_sim_state()
        goal[:4] = (0.1, -0.1, 0.0, 0.0)
        goal[-2:] = goal[:2]

        def frame(state: np.ndarray, mass=None, marker=None) -> np.ndarray:  # [64, 64, 3] int
            state = state.copy()
            if mass is not None:
                state[:2] = mass
            if marker is not None:
                state[-2:] = marker
            return env.render_state(state).astype(int)

        def moved(mass, marker=None) -> np.ndarray:  # [64, 64]: what moving the mass changes
            return np.abs(frame(goal, marker=marker) - frame(goal, mass, marker)).sum(-1)

        corner = (0.25, 0.25)  # the marker out of the way: the mass on bare floor
        bare = np.minimum(moved((-0.2, 0.2), corner), moved((0.2, 0.2), corner))
        on_marker = np.minimum(moved((-0.2, 0.2)), moved((0.2, 0.2)))
    finally:
        env.close()
    at_goal = bare > 60  # the mass's pixels at the goal, seen on bare floor (2 px wide)
    assert 2 <= at_goal.sum() <= 16, at_goal.sum()
    # leaving the marker changes those pixels a third as much as leaving bare floor does (the
    # mass's brown is nearer the marker's red than the floor's blue); under the ball, not at all
    assert on_marker[at_goal].mean() > 0.25 * bare[at_goal].mean()


def test_mark_goal_puts_the_marker_where_the_body_is(made):
    pm = made["point_mass"]
    _, info = pm.reset(seed=1)
    states = pm.simulate(info["state"], _actions(pm, 6, seed=1)[None])[0]  # [6, S]
    marked = pm.mark_goal(states, 4)
    assert np.allclose(marked[:, -2:], states[4, :2]) and np.allclose(marked[:, :4], states[:, :4])
    # at step 4 the frame is what a point_mass-goal goal image of that position shows
    goal = states[4].copy()
    goal[-2:] = goal[:2]
    assert np.array_equal(pm.render_state(marked[4]), pm.render_state(goal))
    # the reacher's target goes to the fingertip, only when the target is drawn
    assert made["reacher"].mark_goal(states[:, :6], 0) is None
    drawn = envs.make("reacher", image_size=SIZE, draw_target=True)
    try:
        _, info = drawn.reset(seed=2)
        arm = drawn.simulate(info["state"], _actions(drawn, 3, seed=2)[None])[0]
        marked = drawn.mark_goal(arm, 2)
        assert np.allclose(marked[:, -2:], drawn.fingertip_position(arm[2]))
    finally:
        drawn.close()
    assert made["wall"].mark_goal(states, 0) is None


def test_jitter_marker_redraws_only_what_shows_in_every_step(made):
    rng = np.random.default_rng(0)
    pm = made["point_mass"]
    _, info = pm.reset(seed=1)
    states = pm.simulate(info["state"], _actions(pm, 5, seed=1)[None])[0]  # [5, S]
    jittered = pm.jitter_marker(states, rng)
    assert np.array_equal(jittered[:, :4], states[:, :4])  # the mass moves as it moved
    assert len({tuple(m) for m in jittered[:, -2:]}) == 5  # a fresh marker in every step
    assert made["reacher"].jitter_marker(states[:, :6], rng) is None  # target hidden
    assert made["wall"].jitter_marker(states, rng) is None
    # dm_control: only parameters that show are redrawn (reacher's target, in a model with
    # contacts off), never physics; a task without such parameters has nothing to redraw
    assert made["dmc"].jitter_marker(np.stack([made["dmc"].get_sim_state()] * 2), rng) is None
    generic = envs.make("dmc", image_size=SIZE, domain="reacher", task="easy")
    try:
        _, info = generic.reset(seed=3)
        arm = generic.simulate(info["state"], _actions(generic, 4, seed=3)[None])[0]  # [4, S]
        jittered = generic.jitter_marker(arm, rng)
        n_physics = generic.physics.get_state().size
        assert np.array_equal(jittered[:, :n_physics], arm[:, :n_physics])
        targets = jittered[:, n_physics:]  # [4, 2]: the target's x, y
        assert len({tuple(t) for t in targets}) == 4
        radius = np.linalg.norm(targets, axis=-1)
        assert ((radius >= 0.05 - 1e-9) & (radius <= 0.20 + 1e-9)).all()  # as the task draws
    finally:
        generic.close()


def test_swimmer_target_light_is_an_episode_parameter_that_only_shows():
    """swimmer's reset moves a light with its target: drawing another episode's start must
    leave the current frame as it was, and jitter redraws the light with the target."""
    env = envs.make("dmc", image_size=SIZE, domain="swimmer", task="swimmer6")
    try:
        env.reset(seed=0)
        before = env.render()
        env.sample_start(np.random.default_rng(5))
        assert np.array_equal(env.render(), before)  # revision 1 lit it from the other episode
        names = [name for name, _ in env._params]
        assert names == ["geom_pos", "geom_pos", "light_pos", "light_pos"]
        n_physics = env.physics.get_state().size
        state = env.get_sim_state()
        jittered = env.jitter_marker(np.stack([state] * 3), np.random.default_rng(0))  # [3, S]
        assert jittered is not None
        assert np.array_equal(jittered[:, :n_physics], np.stack([state[:n_physics]] * 3))
        target, light = jittered[:, n_physics : n_physics + 2], jittered[:, n_physics + 2 :]
        assert np.array_equal(target, light)  # the light stays over the target
        assert len({tuple(t) for t in target}) == 3
    finally:
        env.close()


def test_point_mass_reach_bound_is_tight_under_full_thrust(made):
    env = made["point_mass"]
    free = env.free_displacement(200)
    assert 0.3 < free < 0.45  # 0.1 m/s terminal speed: 0.37 after 200 steps of 0.02 s
    start = env.sample_start(np.random.default_rng(0))
    start[:2] = (-0.25, 0.0)
    start[2:4] = 0.0
    near, far = start.copy(), start.copy()
    near[0] += free - 0.01  # reachable: full thrust along x gets there
    far[0] += free + 0.03  # out of reach of anything
    assert env.can_reach(start, near, 200) and not env.can_reach(start, far, 200)
    assert env.can_reach(start, near + np.r_[0, 0.015, 0, 0, 0, 0], 200)  # inside the radius
    # full thrust along x (budget / action repeat decisions) really reaches the near goal
    decisions = 200 // env.action_repeat
    thrust = np.tile(np.array([1.0, 0.0], np.float32), (1, decisions, 1))  # [1, H, A]
    path = env.simulate(start, thrust)[0]
    assert env.goal_distances(path, near).min() < env.success_threshold
    assert env.goal_distances(path, far).min() > env.success_threshold
    with pytest.raises(ValueError, match="at rest"):
        moving = start.copy()
        moving[2] = 0.05
        env.can_reach(moving, near, 200)
    assert made["wall"].can_reach(start[:4], start[:4], 10) is None


def test_wall_door_and_crossing_time(made):
    env = made["wall"]
    env.reset(seed=0)
    door = env.get_sim_state()[-1]
    assert env.room(env.get_sim_state()) != env.room(env.goal_state)
    assert env.goal_state[-1] == door
    # The door is drawn where the state says: moving it changes the frame.
    other = env.goal_state.copy()
    other[-1] = -door
    assert not np.array_equal(env.render_state(env.goal_state), env.render_state(other))
    # Full action through the door crosses the arena in 60-120 control steps ...
    env.set_sim_state(np.array([-0.92, door, 0.0, 0.0, door]))
    steps = 0
    while env.get_sim_state()[0] < 0.92 and steps < 200:
        env._control_step(np.array([1.0, 0.0]))
        steps += 1
    assert 60 <= steps <= 120
    # ... and the wall stops it away from the door.
    away = door - 0.6 if door > 0 else door + 0.6
    env.set_sim_state(np.array([-0.5, away, 0.0, 0.0, door]))
    for _ in range(100):
        env._control_step(np.array([1.0, 0.0]))
    assert env.get_sim_state()[0] < 0


@pytest.mark.parametrize("door", [-0.6, -0.35, 0.0, 0.25, 0.55])
def test_wall_blocks_everywhere_but_the_door(made, door):
    # Regression: the wall segments were world-body geoms moved through geom_pos, whose
    # collision bounds stayed where the XML put them, so the agent went through the wall at
    # y = 0 (the compiled door) whenever the door sat elsewhere.
    env = made["wall"]
    env.reset(seed=0)
    clear = 0.2 - 0.06  # the agent's centre fits through within this of the door's centre
    for y in np.linspace(-0.9, 0.9, 19):
        if abs(abs(y - door) - clear) < 0.05:
            continue  # grazing the door's edge: either outcome is fair
        env.set_sim_state(np.array([-0.3, y, 0.0, 0.0, door]))
        for _ in range(60):  # control steps: about 0.9 to the right where nothing blocks
            env._control_step(np.array([1.0, 0.0]))
        crossed = env.get_sim_state()[0] > 0
        assert crossed == (abs(y - door) < clear), (door, y)


def test_clear_errors(made):
    with pytest.raises(ValueError, match="point_mass"):
        envs.make("cheetah")
    with pytest.raises(TypeError, match=r"colour.*accepted.*image_size"):
        envs.make("wall", colour="red")
    with pytest.raises(ValueError, match="cartpole"):
        envs.make("dmc", domain="nope", task="swingup")
    with pytest.raises(ValueError, match="swingup"):
        envs.make("dmc", domain="cartpole", task="nope")
    with pytest.raises(ValueError, match="target_size"):
        envs.make("reacher", target_size="medium")
    env = made["wall"]
    with pytest.raises(ValueError, match="shape"):
        env.set_sim_state(np.zeros(3))
    with pytest.raises(ValueError, match="start"):
        env.reset(options={"begin": None})


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_registered_ids_pass_check_env(name):
    env = gym.make(envs.GYM_IDS[name], image_size=SIZE, **WORLD_KWARGS[name])
    try:
        assert isinstance(env.unwrapped, envs.env_class(name))
        check_env(env.unwrapped)  # with a spec, so render modes and close are checked too
        obs, info = env.reset(seed=0)
        assert obs.shape == (SIZE, SIZE, 3) and info["goal"].shape == (SIZE, SIZE, 3)
    finally:
        env.close()


def test_gl_backend_choice_and_help(monkeypatch):
    monkeypatch.delitem(sys.modules, "dm_control._render", raising=False)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert ensure_gl_backend() == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert ensure_gl_backend() == "osmesa"  # an explicit choice is kept
    message = gl_error_message("the first render", ImportError("no EGL display"))
    assert "MUJOCO_GL=osmesa" in message and "libosmesa6" in message and "libegl1" in message


@pytest.mark.parametrize("name", list(WORLD_KWARGS))
def test_simulate_matches_step_for_the_oracle(made, name):
    env = made[name]
    env.reset(seed=3)
    start, goal = env.get_sim_state(), env.goal_state
    actions = _actions(env, 4).reshape(2, 2, -1)  # [N, H, A]
    traj = env.simulate(start, actions)  # [N, H, S]
    assert traj.shape == (2, 2, env.state_size)
    assert np.array_equal(env.get_sim_state(), start)  # simulate leaves no trace
    stepped = [env.step(a)[4]["state"] for a in actions[0]]
    assert np.allclose(traj[0], np.stack(stepped), atol=1e-9)
    distances = env.goal_distances(traj, goal)  # [N, H]
    assert distances.shape == (2, 2)
    assert distances[0, 1] == pytest.approx(env.goal_distance(stepped[1], goal))


def test_simulate_from_many_threads_at_once_matches_one_at_a_time():
    """The oracle simulates its episodes from worker threads. MuJoCo's persistent rollout pool
    is one per process, and two calls at once on it crashed (a segfault on finger/spin with 25
    episodes in parallel), so worker threads must not share it."""
    from concurrent.futures import ThreadPoolExecutor

    worlds = [envs.make("dmc", domain="finger", task="spin", image_size=16) for _ in range(4)]
    try:
        assert worlds[0]._native_controls(np.zeros((1, 1, 2))) is not None  # the native path
        starts = [w.reset(seed=i)[1]["state"] for i, w in enumerate(worlds)]
        acts = [_actions(w, 64 * 3, seed=i).reshape(64, 3, -1) for i, w in enumerate(worlds)]
        alone = [w.simulate(s, a) for w, s, a in zip(worlds, starts, acts, strict=True)]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(5):
                together = list(
                    pool.map(lambda i: worlds[i].simulate(starts[i], acts[i]), range(4))
                )
                for a, b in zip(alone, together, strict=True):
                    assert np.array_equal(a, b)
    finally:
        for w in worlds:
            w.close()


def test_a_domain_without_control_bounds_takes_the_action_as_its_control():
    """dm_control's lqr declares +-1e10 as bounds; scaled onto them, random actions blew the
    simulation up (mjWARN_BADQACC) within a few episodes."""
    env = envs.make("dmc", domain="lqr", task="lqr_2_1", image_size=16)
    try:
        env.reset(seed=0)
        for action in _actions(env, 100, seed=0):
            env.step(action)
            assert np.array_equal(env.physics.data.ctrl, action.astype(np.float64))
        assert np.all(np.isfinite(env.get_sim_state()))
    finally:
        env.close()


def test_reacher_fingertip_features_match_the_simulator(made):
    """The probes' fingertip (closed-form kinematics) is where MuJoCo puts the finger, and
    to_target is the target minus it, for arms and targets drawn at random."""
    env = made["reacher"]
    rng = np.random.default_rng(3)
    states = []
    for _ in range(5):
        env.reset(seed=int(rng.integers(1000)))
        state = env.get_sim_state().copy()
        state[:2] = rng.uniform(-2.5, 2.5, size=2)  # wrist within its +-160 degrees
        states.append(state)
    states = np.stack(states)
    features = env.state_features(states)
    simulated = np.stack([env.fingertip_position(s) for s in states])
    assert np.allclose(features["fingertip"], simulated, atol=1e-6)
    assert np.allclose(features["to_target"], states[:, -2:] - simulated, atol=1e-6)
    assert np.ptp(features["to_target"], axis=0).min() > 0.05  # the states differ
