"""Shapes at every boundary, losses of each regularizer, and the public WorldModel interface."""

import numpy as np
import pytest
import torch

from worldmodel.config import ModelConfig
from worldmodel.model import JEPA, WorldModel
from worldmodel.predictor import action_windows, rollout
from worldmodel.runtime.errors import InputError

SMALL = dict(channels=8, embed_dim=16, hidden=32, depth=2, sigreg_projections=16, history=2)


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


def tiny_world_model(image_size=32):
    cfg = ModelConfig(**SMALL)
    jepa = JEPA(cfg, image_size=image_size, action_dim=2)
    return WorldModel(
        jepa.encoder,
        jepa.predictor,
        image_size=image_size,
        action_dim=2,
        history=cfg.history,
        embed_dim=16,
    )


def test_encode_refuses_frames_that_are_not_pixels():
    wm = tiny_world_model()
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"uint8 pixel frames .*\[0, 1\]"):
        wm.encode(frames / 255.0)  # float in [0, 1]
    with pytest.raises(InputError, match="float32"):
        wm.encode(torch.from_numpy(frames).float())  # float pixels too: refused, not guessed
    with pytest.raises(ValueError, match=r"0\.\.255, got values in 0\.\.300"):
        wm.encode(np.linspace(0, 300, 32 * 32 * 3).astype(int).reshape(1, 32, 32, 3))  # 300 wraps
    with pytest.raises(ValueError, match=r"-1\.\.-1"):
        wm.encode(torch.full((1, 32, 32, 3), -1))
    # Integer pixels in range are pixels: same embeddings as uint8.
    z = wm.encode(frames)
    assert torch.equal(wm.encode(frames.astype(np.int64)), z)
    assert torch.equal(wm.encode(frames.tolist()), z)
    flipped = frames[:, ::-1]  # negative strides, as a flipped render has
    assert torch.equal(wm.encode(flipped), wm.encode(flipped.copy()))


@pytest.mark.parametrize(
    "shape, hint",
    [
        ((2, 3, 32, 32), "move channels last"),
        ((32, 32, 3), "add a batch axis"),
        ((3, 32, 32), "move channels last and add a batch axis"),
        ((2, 64, 64, 3), "resize frames"),
        ((2, 32, 32), "channel axis last"),
    ],
)
def test_encode_shape_hints(shape, hint):
    with pytest.raises(ValueError, match=hint) as err:
        tiny_world_model().encode(np.zeros(shape, np.uint8))
    if hint != "resize frames":
        assert "resize" not in str(err.value)


def test_rollout_takes_numpy_and_float64_and_returns_no_graph():
    wm = tiny_world_model()
    hist = torch.randn(3, wm.history, 16)
    acts = torch.rand(3, 4, 2) * 2 - 1
    ref = wm.rollout(hist, acts)
    assert not ref.requires_grad and ref.grad_fn is None
    out = wm.rollout(hist.numpy(), acts.numpy())  # NumPy float32
    assert torch.equal(out, ref) and not out.requires_grad
    out64 = wm.rollout(hist.double(), acts.double().numpy())  # float64 tensor and array
    assert out64.dtype == torch.float32 and torch.allclose(out64, ref, atol=1e-6)
    with pytest.raises(ValueError, match="actions"):
        wm.rollout(hist, "left")
    # A planner that differentiates through the rollout (gd) still gets a graph to its actions.
    with torch.no_grad():  # the predictor's last layer starts at zero: give it some weight
        for p in wm.predictor.parameters():
            p.add_(0.1 * torch.randn_like(p))
    acts_param = acts.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(wm.rollout(hist, acts_param).square().sum(), acts_param)
    assert grad.shape == acts.shape and grad.abs().sum() > 0
    assert all(p.grad is None for p in wm.parameters())


def test_keypoint_encoder_moves_its_keypoint_with_a_small_object():
    """A 2-pixel dot moved across the frame moves the keypoints linearly (spatial softmax)."""
    from worldmodel.encoder import KeypointEncoder

    torch.manual_seed(0)
    enc = KeypointEncoder(32, 8, 8)
    enc.norm = torch.nn.Identity()  # raw coordinates
    with torch.no_grad():
        enc.log_temperature.fill_(3.0)
        frames = torch.zeros(12, 3, 32, 32)
        for i in range(12):
            frames[i, :, 10:12, 4 + 2 * i : 6 + 2 * i] = 1.0  # the dot moves right
        kx = enc(frames)[:, :4]  # [12, K] x-coordinates
    r = [np.corrcoef(np.arange(12), kx[:, k].numpy())[0, 1] for k in range(4)]
    assert max(abs(v) for v in r) > 0.9, r
    with pytest.raises(InputError, match="even"):
        KeypointEncoder(32, 8, 7)


def test_keypoint_temperature_starts_the_softmax_sharper():
    """model.keypoint_temperature sets the learned inverse temperature's start, in both keypoint
    encoders; a higher one concentrates each map's attention; 0 is refused at start-up."""
    from worldmodel.config import ModelConfig
    from worldmodel.encoder import build_encoder
    from worldmodel.runtime.errors import ConfigError

    frames = torch.rand(4, 3, 32, 32)
    peaks = {}
    for t in (1.0, 10.0):
        torch.manual_seed(0)
        enc = build_encoder(
            ModelConfig(encoder="keypoints", embed_dim=8, keypoint_temperature=t), 32
        )
        assert enc.log_temperature.exp().item() == pytest.approx(t)
        with torch.no_grad():
            peaks[t] = enc.attention(frames - 0.5).amax(-1).mean().item()
    assert peaks[10.0] > 2 * peaks[1.0], peaks
    both = build_encoder(
        ModelConfig(encoder="cnn_keypoints", embed_dim=16, keypoint_temperature=5.0), 32
    )
    assert both.keypoints.log_temperature.exp().item() == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="keypoint_temperature"):
        ModelConfig(keypoint_temperature=0.0)


def test_keypoint_attention_reports_how_peaked_the_keypoints_are():
    """The diagnostic reads the spatial softmax of keypoints and cnn_keypoints encoders (a
    sharper start peaks higher, uniform is one over the cells) and says nothing for a CNN."""
    from worldmodel.diagnostics import headline, keypoint_attention

    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)

    def model(**kw):
        cfg = ModelConfig(**{**SMALL, **kw})
        jepa = JEPA(cfg, image_size=32, action_dim=2)
        return WorldModel(
            jepa.encoder,
            jepa.predictor,
            image_size=32,
            action_dim=2,
            history=cfg.history,
            embed_dim=cfg.embed_dim,
        )

    assert keypoint_attention(model(encoder="cnn"), frames) == {}
    torch.manual_seed(0)
    soft = keypoint_attention(model(encoder="keypoints"), frames)
    torch.manual_seed(0)
    sharp = keypoint_attention(model(encoder="cnn_keypoints", keypoint_temperature=30.0), frames)
    assert soft["keypoint_uniform_attention"] == sharp["keypoint_uniform_attention"] == 1 / 16**2
    assert soft["keypoint_uniform_attention"] <= soft["keypoint_peak_attention"] <= 1
    assert sharp["keypoint_peak_attention"] > 2 * soft["keypoint_peak_attention"]
    assert sharp["keypoint_temperature"] == pytest.approx(30.0)
    stats = {"effective_rank": 3.0, "within_episode_var_share": 0.5, **sharp}
    assert "keypoints' peak attention" in headline(stats)


def test_cnn_keypoint_encoder_is_both_views_side_by_side():
    """cnn_keypoints: the first D/2 numbers are the CNN's, the last D/2 its keypoints'; a dot
    that moves moves the keypoint half linearly, and a bad width is refused at start-up."""
    from worldmodel.encoder import CNNKeypointEncoder, build_encoder
    from worldmodel.runtime.errors import ConfigError

    torch.manual_seed(0)
    enc = build_encoder(ModelConfig(encoder="cnn_keypoints", channels=8, embed_dim=16), 32)
    assert isinstance(enc, CNNKeypointEncoder)
    frames = torch.rand(6, 3, 32, 32)
    enc.eval()
    with torch.no_grad():
        z = enc(frames)
        assert z.shape == (6, 16)
        torch.testing.assert_close(z[:, :8], enc.cnn(frames))
        torch.testing.assert_close(z[:, 8:], enc.keypoints(frames))
        enc.keypoints.norm = torch.nn.Identity()
        enc.keypoints.log_temperature.fill_(3.0)
        dots = torch.zeros(12, 3, 32, 32)
        for i in range(12):
            dots[i, :, 10:12, 4 + 2 * i : 6 + 2 * i] = 1.0  # the dot moves right
        kx = enc(dots)[:, 8:12]  # [12, 4] keypoint x-coordinates
    r = [np.corrcoef(np.arange(12), kx[:, k].numpy())[0, 1] for k in range(4)]
    assert max(abs(v) for v in r) > 0.9, r
    with pytest.raises(ConfigError, match="multiple of 4"):
        ModelConfig(encoder="cnn_keypoints", embed_dim=18)


def test_grid_encoder_codes_a_small_object_in_its_own_cell():
    """The spatial latent is local: a 2-pixel dot changes its own cell and leaves the cells
    beyond the encoder's reach exactly as they were (no map-wide normalization), and the conv
    predictor keeps the grid's shape (a flat [B, C * grid²] at the API)."""
    from worldmodel.encoder import GridEncoder
    from worldmodel.predictor import ConvPredictor

    torch.manual_seed(0)
    enc = GridEncoder(32, 8, 4 * 16, grid=4).eval()  # 4x4 cells of 4 channels
    frames = (0.3 * torch.rand(1, 3, 32, 32)).expand(3, -1, -1, -1).clone()  # a textured floor
    frames[1, :, 3:5, 3:5] = 1.0  # a dot in cell (0, 0)
    frames[2, :, 27:29, 19:21] = 1.0  # a dot in cell (3, 2)
    with torch.no_grad():
        z = enc(frames).view(3, 4, 4, 4)  # [B, C, grid, grid]
    for i, (r, c) in ((1, (0, 0)), (2, (3, 2))):
        change = (z[i] - z[0]).abs().sum(0)  # [grid, grid]
        assert change[r, c] > 1e-3, change
        rows, cols = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
        far = torch.maximum((rows - r).abs(), (cols - c).abs()) >= 3
        assert far.any() and change[far].abs().max() == 0, change
    pred = ConvPredictor(64, 2, history=2, hidden=8, depth=2, grid=4)
    out = pred(torch.randn(5, 2, 64), torch.randn(5, 2))
    assert out.shape == (5, 64)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(encoder="grid", embed_dim=100, grid=8), "model.embed_dim=100 is not a multiple"),
        (dict(predictor="conv"), "model.predictor=conv .* needs model.encoder=grid"),
    ],
)
def test_grid_settings_without_sense_are_refused(settings, message):
    from worldmodel.config import ModelConfig
    from worldmodel.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        ModelConfig(**settings)


def test_grid_encoder_refuses_an_image_side_it_cannot_reach():
    from worldmodel.encoder import GridEncoder

    with pytest.raises(InputError, match="env.image_size=48 is not model.grid=8 times a power"):
        GridEncoder(48, 8, 512, grid=8)


def _action_history_model(history=3, action_dim=2):
    """A WorldModel whose predictor reads the actions between its history's frames, with the
    zero-initialised last layer randomised so that every input matters."""
    torch.manual_seed(0)
    cfg = ModelConfig(**{**SMALL, "history": history, "action_history": True})
    jepa = JEPA(cfg, image_size=32, action_dim=action_dim)
    last = jepa.predictor.net[-1]
    torch.nn.init.normal_(last.weight, std=0.1)
    wm = WorldModel(
        jepa.encoder,
        jepa.predictor,
        image_size=32,
        action_dim=action_dim,
        history=history,
        embed_dim=16,
        action_history=True,
    )
    return jepa, wm


def test_action_history_feeds_the_actions_between_the_frames():
    """With model.action_history the predictor reads, oldest first, the actions between the
    history's frames and then the next one: in training windows, in the rollout (where they
    shift along with the predictions) and in surprise, all alike."""
    jepa, wm = _action_history_model(history=3)
    b, length, a_dim = 2, 7, 2
    z = torch.randn(b, length, 16)
    acts = torch.randn(b, length - 1, a_dim)
    # Step by step by hand: the prediction of frame t+1 reads z[t-2..t] and a[t-2..t].
    hand = torch.stack(
        [jepa.predictor(z[:, t - 2 : t + 1], acts[:, t - 2 : t + 1].flatten(1)) for t in (2, 3)],
        1,
    )  # [B, 2, D]
    windows = action_windows(acts, 3, 2, with_past=True)  # [B, 2, 3*A]
    assert windows.shape == (b, 2, 3 * a_dim)
    assert torch.equal(windows[:, 1], acts[:, 1:4].flatten(1))
    tf = torch.stack([jepa.predictor(z[:, i : i + 3], windows[:, i]) for i in range(2)], 1)
    torch.testing.assert_close(tf, hand)
    # The rollout's first step is the same prediction; its second reads its own first
    # prediction, and the past actions shifted by one.
    out = wm.rollout(z[:, :3], acts[:, 2:4], acts[:, :2])
    torch.testing.assert_close(out[:, 0], hand[:, 0])
    second = jepa.predictor(
        torch.cat([z[:, 1:3], out[:, :1]], 1), acts[:, 1:4].flatten(1)
    )  # [B, D]
    torch.testing.assert_close(out[:, 1], second)
    # The past actions change the prediction: they are read, not dropped.
    other = wm.rollout(z[:, :3], acts[:, 2:4], acts[:, :2] + 1.0)
    assert not torch.allclose(other[:, 0], out[:, 0])


def test_action_history_surprise_matches_the_rollout():
    """Surprise is the one-step prediction from the true history and the actions between its
    frames: the same number the rollout gives for one step."""
    _, wm = _action_history_model(history=3)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    acts = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
    s = wm.surprise(frames, acts)  # [T - history + 1] = [3]
    z = wm.encode(frames)  # [6, D]
    for j, t in enumerate(range(2, 5)):
        pred = wm.rollout(z[None, t - 2 : t + 1], acts[None, t : t + 1], acts[None, t - 2 : t])
        assert float(s[j]) == pytest.approx(float((pred[0, 0] - z[t + 1]).pow(2).mean()), rel=1e-4)


def test_action_history_is_asked_for_with_its_shape():
    _, wm = _action_history_model(history=3)
    hist, acts = torch.zeros(4, 3, 16), torch.zeros(4, 5, 2)
    with pytest.raises(InputError, match=r"past_actions \[4, 2, 2\]"):
        wm.rollout(hist, acts)
    with pytest.raises(InputError, match=r"past_actions \[4, 2, 2\].*got \(4, 3, 2\)"):
        wm.rollout(hist, acts, torch.zeros(4, 3, 2))
    plain = tiny_world_model()  # no action history: past actions are ignored, so callers may
    h = torch.randn(4, plain.history, 16)  # always pass them
    torch.testing.assert_close(plain.rollout(h, acts, torch.ones(4, 1, 2)), plain.rollout(h, acts))
    with pytest.raises(ValueError, match="model.history=2 or more"):
        ModelConfig(history=1, action_history=True)


def test_contrast_kept_off_the_predictor_reaches_only_the_encoder():
    """model.contrast_trains_predictor=false: same loss, the contrast's gradient on the
    predictor's weights is zero and on the encoder's is not; with true it reaches both."""
    obs = torch.randint(0, 256, (4, 5, 16, 16, 3), dtype=torch.uint8)
    act = torch.rand(4, 4, 3) * 2 - 1

    def contrast_grads(trains_predictor):
        torch.manual_seed(0)
        cfg = ModelConfig(
            contrast_weight=1.0, contrast_trains_predictor=trains_predictor, idm_weight=0, **SMALL
        )
        model = JEPA(cfg, image_size=16, action_dim=3)
        _, parts = model(obs, act, torch.Generator().manual_seed(0))
        parts["contrast"].backward()
        grads = [
            sum(float(p.grad.abs().sum()) for p in m.parameters() if p.grad is not None)
            for m in (model.predictor, model.encoder)
        ]
        return parts["contrast"].item(), *grads

    loss_on, pred_on, enc_on = contrast_grads(True)
    loss_off, pred_off, enc_off = contrast_grads(False)
    assert loss_off == pytest.approx(loss_on, rel=1e-5)
    assert pred_on > 0 and pred_off == 0
    assert enc_on > 0 and enc_off > 0


def test_contrast_kept_off_the_predictor_without_a_contrast_is_refused():
    with pytest.raises(ValueError, match="model.contrast_weight"):
        JEPA(ModelConfig(contrast_trains_predictor=False, **SMALL), image_size=16, action_dim=3)
