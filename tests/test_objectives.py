"""Regularizers vanish where theory says and are large on collapsed embeddings; EMA and IDM work."""

import copy
import math
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from worldmodel.objectives import effective_rank, ema_update, sigreg, vicreg


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_sigreg_small_on_gaussian_large_on_collapsed(gen):
    torch.manual_seed(0)
    gaussian = torch.randn(1024, 32)
    collapsed = 0.01 * torch.randn(1024, 32)
    low_rank = torch.randn(1024, 1) @ torch.randn(1, 32)  # one direction only
    g = sigreg(gaussian, 128, generator=gen).item()
    assert g < 1.5  # the finite-sample floor, about 1 for any N
    assert sigreg(collapsed, 128, generator=gen).item() > 30 * g
    assert sigreg(low_rank, 128, generator=gen).item() > 10 * g
    assert sigreg(3 * gaussian, 128, generator=gen).item() > 10 * g  # wrong scale is penalised too


def test_sigreg_pushes_collapsed_embeddings_apart(gen):
    z = (0.01 * torch.randn(256, 8)).requires_grad_()
    opt = torch.optim.Adam([z], lr=0.05)
    before = sigreg(z, 64, generator=gen).item()
    for _ in range(150):
        loss = sigreg(z, 64, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert sigreg(z, 64, generator=gen).item() < 0.1 * before
    assert z.std(0).min() > 0.5


def test_vicreg_small_on_gaussian_large_on_collapsed():
    torch.manual_seed(0)
    assert vicreg(torch.randn(2048, 32)).item() < 0.05
    assert vicreg(torch.zeros(2048, 32)).item() > 0.9
    correlated = torch.randn(2048, 1).repeat(1, 32)
    assert vicreg(correlated, std_weight=0.0, cov_weight=1.0).item() > 10


def test_effective_rank_bounds():
    torch.manual_seed(0)
    assert effective_rank(torch.randn(4096, 16)) > 14
    assert effective_rank(torch.randn(4096, 1) @ torch.randn(1, 16)) < 1.5


def test_ema_update_moves_target_towards_online():
    online = nn.Linear(4, 4)
    target = copy.deepcopy(online).requires_grad_(False)
    with torch.no_grad():
        online.weight.add_(1.0)
    gap = (online.weight - target.weight).abs().mean().item()
    ema_update(target, online, decay=0.9)
    new_gap = (online.weight - target.weight).abs().mean().item()
    assert new_gap == pytest.approx(0.9 * gap, rel=1e-5)
    assert not target.weight.requires_grad


def test_within_episode_share_is_zero_for_an_embedding_of_episode_constants():
    from worldmodel.objectives import within_episode_share

    torch.manual_seed(0)
    constant = torch.randn(20, 1, 8).expand(-1, 30, -1)  # [E, T, D]: one code per episode
    moving = torch.randn(20, 30, 8)
    assert within_episode_share(constant) == pytest.approx(0.0, abs=1e-6)
    assert within_episode_share(moving) > 0.9
    assert 0.2 < within_episode_share(constant + 0.5 * moving) < 0.4


def test_temporal_sigreg_punishes_episode_constants_and_not_what_moves():
    from worldmodel.objectives import temporal_sigreg

    gen = torch.Generator().manual_seed(0)
    constant = torch.randn(64, 1, 16, generator=gen).expand(-1, 6, -1)  # [B, L, D]
    moving = torch.randn(64, 6, 16, generator=gen)
    on_constant = temporal_sigreg(constant, 64, generator=torch.Generator().manual_seed(1))
    on_moving = temporal_sigreg(moving, 64, generator=torch.Generator().manual_seed(1))
    assert on_constant > 50 * on_moving
    assert on_moving < 5.0  # near its finite-sample floor for N(0, I) deviations


def test_sequence_contrast_scores_episode_constants_as_a_guess_and_rewards_what_moves():
    from worldmodel.objectives import sequence_contrast

    gen = torch.Generator().manual_seed(0)
    hist, k = 2, 3
    constant = torch.randn(32, 1, 16, generator=gen).expand(-1, hist + k, -1)  # [B, L, D]
    noise = torch.randn(32, k, 16, generator=gen)
    # An embedding of episode constants: every frame of a sequence looks the same, so no
    # prediction can pick out its own frame: the loss of a uniform guess over L frames.
    on_constant = sequence_contrast(constant[:, hist:] + noise, constant, hist)
    assert on_constant.item() == pytest.approx(math.log(hist + k), rel=1e-5)
    # Frames that differ, predicted well: far below a guess; predicted as copy-last: above it.
    moving = torch.randn(32, hist + k, 16, generator=gen)
    good = sequence_contrast(moving[:, hist:] + 0.1 * noise, moving, hist)
    copy_last = sequence_contrast(moving[:, hist - 1 : hist].expand(-1, k, -1), moving, hist)
    assert good.item() < 0.05 < math.log(hist + k) < copy_last.item()
    with pytest.raises(ValueError, match="need 5 frames"):
        sequence_contrast(moving[:, hist:], moving[:, :4], hist)


def test_a_probe_of_an_episode_constant_needs_many_training_episodes():
    """A door or a drawn target has one value per episode: coded linearly in a 64-d embedding
    beside 63 other episode constants, a ridge probe fit on 30 episodes cannot tell it from
    them, while one fit on 300 reads it (what train.probe_fit_episodes is for)."""
    from worldmodel.diagnostics import _probe

    rng = np.random.default_rng(0)

    def episodes(n: int) -> tuple[torch.Tensor, np.ndarray]:
        door = rng.uniform(-1, 1, size=(n, 1, 1))
        codes = np.concatenate([door, rng.normal(size=(n, 1, 63))], axis=-1)  # [E, 1, D]
        z = np.repeat(codes, 20, axis=1) + 0.05 * rng.normal(size=(n, 20, 64))  # [E, T, D]
        return torch.from_numpy(z).float(), np.repeat(door, 20, axis=1)  # states [E, T, 1]

    def features(states: np.ndarray) -> dict[str, np.ndarray]:
        return {"door": states[:, :1]}

    z_val, s_val = episodes(30)
    few = _probe(*episodes(30), z_val, s_val, features, 1)["door"]
    many = _probe(*episodes(300), z_val, s_val, features, 1)["door"]
    assert few < 0.5 < 0.9 < many, (few, many)


def test_probe_per_dim_names_the_column_the_embedding_leaves_out():
    """An embedding that codes the first of two joints and not the second: the feature's R^2
    is about one half, and the per-column R^2 says which joint is missing."""
    from worldmodel.diagnostics import ridge_r2

    rng = np.random.default_rng(0)
    state = rng.normal(size=(2000, 2))  # [N, 2 joints]
    z = np.concatenate([state[:, :1], rng.normal(size=(2000, 15))], axis=1)  # [N, 16]
    tr, te = slice(0, 1500), slice(1500, None)
    whole = ridge_r2(z[tr], state[tr], z[te], state[te])
    first, second = ridge_r2(z[tr], state[tr], z[te], state[te], per_dim=True)
    assert 0.4 < whole < 0.6, whole
    assert first > 0.99 and abs(second) < 0.05, (first, second)


def test_error_share_puts_a_low_variance_column_the_probe_misses_below_a_half_read_one():
    """A column of small variance read not at all costs the overall R^2 little; a large column
    read half way costs it most: the per-column R^2 alone would rank them the other way."""
    from worldmodel.diagnostics import error_shares, r2_columns, r2_total, ridge_sums

    rng = np.random.default_rng(0)
    big, small = rng.normal(size=2000), 0.05 * rng.normal(size=2000)
    state = np.stack([big, small], axis=1)  # [N, 2]
    noise = rng.normal(size=2000)
    z = np.stack([big + noise, rng.normal(size=2000)], axis=1)  # codes half of `big`, no `small`
    tr, te = slice(0, 1500), slice(1500, None)
    sums = ridge_sums(z[tr], state[tr], z[te], state[te])
    r2_big, r2_small = r2_columns(*sums)
    assert 0.4 < r2_big < 0.6 and abs(r2_small) < 0.05, (r2_big, r2_small)
    share_big, share_small = error_shares(sums[0])
    assert share_big > 0.99 and share_small < 0.01 and share_big + share_small == pytest.approx(1)
    assert r2_total(*sums) == pytest.approx(r2_big, abs=0.01)


def test_quadratic_probe_reads_a_state_the_embedding_codes_nonlinearly():
    """A state that is the product of two embedding directions (each coded linearly, beside 62
    of noise) has no linear read at all, and the quadratic probe reads it; a state coded
    linearly reads the same in both (the quadratic inputs include the components)."""
    from worldmodel.diagnostics import _probe_sums, quadratic_features, r2_total

    rng = np.random.default_rng(0)

    def episodes(n: int) -> tuple[torch.Tensor, np.ndarray]:
        z = rng.normal(size=(n, 20, 64))  # [E, T, D]
        states = np.stack([z[..., 0] * z[..., 1], z[..., 2]], axis=-1)  # [E, T, 2]
        return torch.from_numpy(z).float(), states

    def features(states: np.ndarray) -> dict[str, np.ndarray]:
        return {"product": states[:, :1], "linear": states[:, 1:]}

    train, val = episodes(150), episodes(30)
    linear = {k: r2_total(*v) for k, v in _probe_sums(*train, *val, features, 1).items()}
    quad = _probe_sums(*train, *val, features, 1, lambda a, b: quadratic_features(a, b, 64))
    quadratic = {k: r2_total(*v) for k, v in quad.items()}
    assert abs(linear["product"]) < 0.05 and quadratic["product"] > 0.95, (linear, quadratic)
    assert linear["linear"] > 0.99 and quadratic["linear"] > 0.98, (linear, quadratic)
    x_tr, x_te = quadratic_features(rng.normal(size=(500, 40)), rng.normal(size=(7, 40)))
    assert x_tr.shape == (500, 32 + 32 * 33 // 2) and x_te.shape == (7, x_tr.shape[1])


def test_quadratic_history_probe_reads_the_rate_of_an_angle_coded_by_sine_and_cosine():
    """An embedding that codes an angle by its sine and cosine (beside 14 of noise) holds the
    angle's rate in two frames only as a product of their codes (the change of sin q is cos q
    times the change of q): the linear probe of the two frames reads it at 0, the quadratic
    probe of one frame too, and the quadratic probe of the two frames reads it."""
    from worldmodel.diagnostics import (
        HISTORY_QUADRATIC_COMPONENTS,
        _probe_sums,
        quadratic_features,
        r2_total,
    )

    rng = np.random.default_rng(0)

    def episodes(n: int) -> tuple[torch.Tensor, np.ndarray]:
        rate = rng.normal(0, 0.2, size=(n, 20))  # [E, T]: q_t - q_{t-1}
        q = rng.uniform(-np.pi, np.pi, size=(n, 1)) + np.cumsum(rate, axis=1)  # [E, T]
        z = np.concatenate(
            [np.sin(q)[..., None], np.cos(q)[..., None], 0.3 * rng.normal(size=(n, 20, 14))], -1
        )  # [E, T, 16]
        return torch.from_numpy(z).float(), rate[..., None]  # states [E, T, 1]

    def features(states: np.ndarray) -> dict[str, np.ndarray]:
        return {"velocity": states}

    train, val = episodes(300), episodes(30)

    def r2(k: int, components: int | None) -> float:
        expand = None if components is None else partial(quadratic_features, components=components)
        return r2_total(*_probe_sums(*train, *val, features, k, expand)["velocity"])

    assert abs(r2(2, None)) < 0.1 and abs(r2(1, 16)) < 0.1, (r2(2, None), r2(1, 16))
    assert r2(2, HISTORY_QUADRATIC_COMPONENTS) > 0.9, r2(2, HISTORY_QUADRATIC_COMPONENTS)


def test_quadratic_probe_takes_fewer_components_on_few_frames():
    from worldmodel.diagnostics import quadratic_components

    assert quadratic_components(30_000, 64) == 32  # 560 inputs, 53 frames each
    assert quadratic_components(30_000, 8) == 8
    c = quadratic_components(400, 64)
    assert 0 < c < 32 and (c + c * (c + 1) // 2) * 10 <= 400
    assert quadratic_components(15, 64) == 0
