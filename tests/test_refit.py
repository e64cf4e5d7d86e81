"""worldmodel.refit, its windows and benchmarks.predictor_refit: the predictor fit alone."""

from __future__ import annotations

import json

import torch

from tests.conftest import run_cli
from worldmodel.predictor import MLPPredictor, episode_windows, rollout
from worldmodel.refit import refit_predictor


def test_windows_pair_each_history_with_its_actions_and_the_frames_after_it():
    # frame t of episode e holds 100 e + t, action t holds 100 e + t + 0.5
    e, t = 2, 6
    z = (100 * torch.arange(e)[:, None] + torch.arange(t + 1)[None]).float()[..., None]
    a = z[:, :-1] + 0.5
    hist, acts, past, truth = episode_windows(z, a, history=2, horizon=3, with_past=True)
    assert hist.shape == (2 * 3, 2, 1) and acts.shape == (6, 3, 1) and truth.shape == (6, 3, 1)
    assert past is not None and past.shape == (6, 1, 1)
    # the second window of episode 1: frames 101, 102, then actions 102.5.. and frames 103..
    assert hist[4, :, 0].tolist() == [101, 102]
    assert past[4, :, 0].tolist() == [101.5]
    assert acts[4, :, 0].tolist() == [102.5, 103.5, 104.5]
    assert truth[4, :, 0].tolist() == [103, 104, 105]
    assert episode_windows(z, a, history=2, horizon=3, with_past=False)[2] is None


def test_refit_learns_the_action_effect_a_copy_last_predictor_misses():
    gen = torch.Generator().manual_seed(0)
    d, n_act, steps = 4, 2, 30
    effect = torch.randn(n_act, d, generator=gen)

    def episodes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.rand(n, steps, n_act, generator=gen) * 2 - 1
        z0 = torch.randn(n, 1, d, generator=gen)
        return torch.cat([z0, z0 + torch.cumsum(a @ effect, 1)], 1), a  # z_{t+1} = z_t + a_t B

    z, a = episodes(40)
    predictor = MLPPredictor(d, n_act, history=2, hidden=64, depth=2)  # zero head: copy-last
    first, last = refit_predictor(
        predictor, z, a, history=2, horizon=3, action_history=False, steps=300,
        batch_size=128, lr=3e-3, weight_decay=0.0, generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert last < 0.1 * first
    z_new, a_new = episodes(5)  # held out
    hist, acts, _, truth = episode_windows(z_new, a_new, 2, 3, False)
    with torch.no_grad():
        err = ((rollout(predictor, hist, acts) - truth) ** 2).mean()
    copy = ((hist[:, -1:] - truth) ** 2).mean()
    assert err < 0.1 * copy


def test_the_tool_refits_a_checkpoint_that_loads_and_keeps_its_encoder(tiny_run, cache, tmp_path):
    from worldmodel.api import load

    out = tmp_path / "refit"
    args = ["--checkpoint", str(tiny_run), "--out", str(out), "--steps", "20", "--horizon", "2"]
    run_cli("benchmarks.predictor_refit", *args, "--batch", "16", cache=cache)
    result = json.loads((out / "refit.json").read_text())
    assert result["loss_first_tenth"] > 0 and result["loss_last_tenth"] > 0  # the fit itself: above
    assert len(result["before"]["rollout_mse"]) == len(result["after"]["rollout_mse"]) == 2
    assert {"pred_tf", "pred_rollout"} <= set(result["predictor_grad_norm_by_term"])
    old, new = load(str(tiny_run), device="cpu"), load(str(out), device="cpu")
    for p, q in zip(old.encoder.parameters(), new.encoder.parameters(), strict=True):
        assert torch.equal(p, q)
    assert any(
        not torch.equal(p, q)
        for p, q in zip(old.predictor.parameters(), new.predictor.parameters(), strict=True)
    )
    # the source checkpoint is never overwritten
    same = run_cli("benchmarks.predictor_refit", "--checkpoint", str(tiny_run), "--out",
                   str(tiny_run), cache=cache, check=False)  # fmt: skip
    assert same.returncode != 0 and "would overwrite" in same.stderr
