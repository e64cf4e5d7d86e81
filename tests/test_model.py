"""Shapes at every boundary, losses of each regularizer, and the public WorldModel interface."""

import numpy as np
import pytest
import torch

from worldmodel.config import ModelConfig
from worldmodel.model import JEPA, WorldModel
from worldmodel.predictor import rollout

SMALL = dict(channels=8, embed_dim=16, hidden=32, depth=2, sigreg_projections=16)


@pytest.mark.parametrize("encoder", ["cnn", "vit"])
@pytest.mark.parametrize("predictor", ["mlp", "transformer"])
@pytest.mark.parametrize("regularizer", ["sigreg", "vicreg", "ema"])
def test_jepa_forward_backward(encoder, predictor, regularizer):
    cfg = ModelConfig(
        encoder=encoder,
        predictor=predictor,
        regularizer=regularizer,
        patch_size=8,
        vit_depth=1,
        **SMALL,
    )
    model = JEPA(cfg, image_size=32, action_dim=3)
    obs = torch.randint(0, 256, (4, cfg.history + 2, 32, 32, 3), dtype=torch.uint8)
    act = torch.rand(4, cfg.history + 1, 3) * 2 - 1
    loss, parts = model(obs, act, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert {"pred_tf", "pred_rollout", "idm"} <= set(parts)
    assert (regularizer in parts) == (regularizer != "ema")
    loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads)
    if regularizer == "ema":
        assert all(p.grad is None for p in model.target_encoder.parameters())


def test_training_reduces_prediction_loss_on_learnable_dynamics():
    """A dot moving by the action: the prediction loss must drop well below its start."""
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL)
    model = JEPA(cfg, image_size=16, action_dim=2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def batch(b=32, length=4):
        pos = torch.randint(3, 13, (b, 2))
        acts = torch.randint(-1, 2, (b, length - 1, 2)).float()
        frames = torch.zeros(b, length, 16, 16, 3, dtype=torch.uint8)
        for t in range(length):
            p = pos.clamp(0, 15)
            frames[torch.arange(b), t, p[:, 0], p[:, 1]] = 255
            if t < length - 1:
                pos = pos + acts[:, t].long()
        return frames, acts

    first = None
    for _ in range(150):
        obs, act = batch()
        loss, parts = model(obs, act)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else parts["pred_tf"].item()
    assert parts["pred_tf"].item() < 0.5 * first


def test_rollout_shapes_and_feedback():
    cfg = ModelConfig(**SMALL)
    model = JEPA(cfg, image_size=32, action_dim=2)
    hist = torch.randn(5, cfg.history, cfg.embed_dim)
    out = rollout(model.predictor, hist, torch.zeros(5, 7, 2))
    assert out.shape == (5, 7, cfg.embed_dim)


def test_world_model_interface_and_errors():
    cfg = ModelConfig(**SMALL)
    jepa = JEPA(cfg, image_size=32, action_dim=2)
    wm = WorldModel(
        jepa.encoder, jepa.predictor, image_size=32, action_dim=2, history=cfg.history, embed_dim=16
    )
    wm.train()
    assert not wm.training  # always eval: BatchNorm uses running statistics
    frames = np.random.randint(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    z = wm.encode(frames)
    assert z.shape == (3, 16) and z.dtype == torch.float32
    assert torch.allclose(z[:1], wm.encode(frames[:1]), atol=1e-5)  # batch-independent in eval
    out = wm.rollout(z[:, None].repeat(1, cfg.history, 1), torch.zeros(3, 4, 2))
    assert out.shape == (3, 4, 16)
    with pytest.raises(ValueError, match="32, 32, 3"):
        wm.encode(np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="actions"):
        wm.rollout(z[:, None].repeat(1, cfg.history, 1), torch.zeros(3, 4, 5))


def test_bad_model_settings_are_named():
    with pytest.raises(ValueError, match="model.regularizer"):
        JEPA(ModelConfig(regularizer="nope", **SMALL), 32, 2)
    with pytest.raises(ValueError, match="model.encoder"):
        JEPA(ModelConfig(encoder="nope", **SMALL), 32, 2)
