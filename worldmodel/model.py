"""The JEPA (training-time module) and the WorldModel (the public, planning-time interface)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.config import ModelConfig, world_recipe
from worldmodel.decoder import CNNDecoder
from worldmodel.encoder import build_encoder
from worldmodel.objectives import (
    InverseDynamics,
    sequence_contrast,
    sigreg,
    temporal_sigreg,
    vicreg,
)
from worldmodel.predictor import action_windows, build_predictor, rollout
from worldmodel.runtime.errors import InputError

REGULARIZERS = ("sigreg", "vicreg", "ema")
OBJECTIVES = ("jepa", "reconstruction")


def frames_to_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames [..., H, W, 3] -> float [..., 3, H, W] centred on 0 (range -0.5 .. 0.5)."""
    return frames.movedim(-1, -3).float().div_(255.0).sub_(0.5)


class JEPA(nn.Module):
    """Encoder, predictor and the auxiliary heads trained together.

    ``forward`` takes a batch of sequences and returns the loss and its parts, so that one DDP
    wrapper around this module synchronises every gradient. Two objectives (``model.objective``)
    share the encoder, the predictor, their windows and the inverse dynamics:

    - ``jepa``: predicted embeddings regress onto the embeddings of the next frames, and an
      anti-collapse regularizer (SIGReg, VICReg or an EMA target) keeps the embedding informative;
    - ``reconstruction``: the generative counterpart (PlaNet's and Dreamer's deterministic path,
      without their stochastic state): a decoder (:mod:`worldmodel.decoder`) renders every frame
      from its embedding and the next frames from the predicted embeddings, and the loss is the
      pixel error only. There is no embedding-space loss and no regularizer: a collapsed
      embedding cannot render different frames, so the pixel loss itself prevents collapse.

    Planning uses only the encoder and the predictor (:class:`WorldModel`), for either objective.
    """

    def __init__(self, cfg: ModelConfig, image_size: int, action_dim: int):
        super().__init__()
        if cfg.regularizer not in REGULARIZERS:
            raise ValueError(
                f"unknown model.regularizer={cfg.regularizer!r}; choose one of {', '.join(REGULARIZERS)}"
            )
        if cfg.objective not in OBJECTIVES:
            raise ValueError(
                f"unknown model.objective={cfg.objective!r}; choose one of {', '.join(OBJECTIVES)}"
            )
        cfg = world_recipe(None, cfg)  # fields a world would choose, if still None: generic
        assert cfg.history is not None and cfg.action_history is not None  # filled just above
        if cfg.history < 1:
            raise ValueError(f"model.history must be >= 1, got {cfg.history}")
        if not cfg.contrast_trains_predictor and not cfg.contrast_weight:
            raise ValueError(
                "model.contrast_trains_predictor=false only changes the contrast's gradient, and "
                "this model has none (model.contrast_weight=0); set model.contrast_weight above 0 "
                "or drop the override"
            )
        self.history: int = cfg.history
        self.action_history: bool = cfg.action_history
        self.cfg = cfg
        self.encoder = build_encoder(cfg, image_size)
        self.predictor = build_predictor(cfg, action_dim)
        self.idm = (
            InverseDynamics(cfg.embed_dim, action_dim, cfg.hidden) if cfg.idm_weight > 0 else None
        )
        self.target_encoder = None
        self.decoder: CNNDecoder | None = None
        if cfg.objective == "reconstruction":
            self.decoder = CNNDecoder(image_size, cfg.channels, cfg.embed_dim)
        elif cfg.regularizer == "ema":
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """obs uint8 [B, L, H, W, 3], actions [B, L-1, A] with L = history + K -> (loss, parts)."""
        hist = self.history
        b, length = obs.shape[:2]
        k = length - hist
        if k < 1:
            raise ValueError(
                f"sequences of {length} frames leave no step to predict after a history of {hist}"
            )
        x = frames_to_input(obs).flatten(0, 1)  # [B*L, 3, H, W]
        z = self.encoder(x).view(b, length, -1)  # [B, L, D]
        pred_tf, pred_ro = self._predict(self.predictor, z, actions)
        if self.decoder is None:

            def fixed() -> tuple[torch.Tensor, torch.Tensor]:
                """The predictions again, through the predictor's weights detached."""
                weights = {n: p.detach() for n, p in self.predictor.named_parameters()}

                def predictor(*args: torch.Tensor) -> torch.Tensor:
                    return torch.func.functional_call(self.predictor, weights, args)

                return self._predict(predictor, z, actions)

            loss, parts = self._embedding_losses(x, z, pred_tf, pred_ro, fixed, generator)
        else:
            loss, parts = self._pixel_losses(x, z, pred_tf, pred_ro)
        if self.idm is not None:
            a_hat = self.idm(z[:, :-1].flatten(0, 1), z[:, 1:].flatten(0, 1))
            parts["idm"] = F.mse_loss(a_hat.float(), actions.flatten(0, 1).float())
            loss = loss + self.cfg.idm_weight * parts["idm"]
        parts["loss"] = loss
        return loss, parts

    def _predict(
        self, predictor: Callable[..., torch.Tensor], z: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, L, D], actions [B, L-1, A] -> the K = L - history next embeddings predicted
        teacher-forced and rolled out from the first window: ([B, K, D], [B, K, D])."""
        hist = self.history
        b, k = z.shape[0], z.shape[1] - hist
        # Teacher forcing: every window of `hist` true embeddings predicts the next one.
        windows = torch.stack([z[:, i : i + hist] for i in range(k)], dim=1)  # [B, K, T, D]
        with_past = self.action_history
        a_in = action_windows(actions, hist, k, with_past)  # [B, K, A']
        pred_tf = predictor(windows.flatten(0, 1), a_in.flatten(0, 1)).view(b, k, -1)
        # Autoregressive rollout over K steps from the first window.
        a_next = action_windows(actions, hist, k, with_past=False)  # [B, K, A]
        past = actions[:, : hist - 1] if with_past else None  # [B, T-1, A]
        return pred_tf, rollout(predictor, z[:, :hist], a_next, past)

    def _embedding_losses(
        self,
        x: torch.Tensor,
        z: torch.Tensor,
        pred_tf: torch.Tensor,
        pred_ro: torch.Tensor,
        predictions: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The jepa objective: x [B*L, 3, H, W], z [B, L, D], predictions [B, K, D] -> the
        prediction errors against the next embeddings (the EMA target's, if any) and the
        anti-collapse terms. ``predictions()`` gives them again through the predictor's weights
        held fixed, for the contrast when model.contrast_trains_predictor is false."""
        cfg = self.cfg
        b, length = z.shape[:2]
        hist = cfg.history
        assert hist is not None  # filled by world_recipe in __init__
        if self.target_encoder is not None:
            with torch.no_grad():
                self.target_encoder.train(self.training)
                target = self.target_encoder(x).view(b, length, -1).detach()
        else:
            target = z
        loss_tf = F.mse_loss(pred_tf, target[:, hist:])
        loss_ro = F.mse_loss(pred_ro, target[:, hist:])
        parts = {"pred_tf": loss_tf, "pred_rollout": loss_ro}
        loss = loss_tf + loss_ro
        flat = z.flatten(0, 1)
        if cfg.regularizer == "sigreg":
            parts["sigreg"] = sigreg(flat, cfg.sigreg_projections, generator=generator)
            assert cfg.sigreg_weight is not None  # filled by world_recipe in __init__
            loss = loss + cfg.sigreg_weight * parts["sigreg"]
        elif cfg.regularizer == "vicreg":
            parts["vicreg"] = vicreg(flat, cfg.vicreg_std_weight, cfg.vicreg_cov_weight)
            loss = loss + parts["vicreg"]
        if cfg.temporal_weight > 0:
            parts["temporal"] = temporal_sigreg(z, cfg.sigreg_projections, generator=generator)
            loss = loss + cfg.temporal_weight * parts["temporal"]
        assert cfg.contrast_weight is not None  # filled by world_recipe in __init__
        if cfg.contrast_weight > 0:
            tau = cfg.contrast_temperature
            assert tau is not None  # filled by world_recipe in __init__
            if not cfg.contrast_trains_predictor:
                pred_tf, pred_ro = predictions()  # the same, through a fixed predictor
            parts["contrast"] = 0.5 * (
                sequence_contrast(pred_tf, target, hist, tau)
                + sequence_contrast(pred_ro, target, hist, tau)
            )
            loss = loss + cfg.contrast_weight * parts["contrast"]
        return loss, parts

    def _pixel_losses(
        self, x: torch.Tensor, z: torch.Tensor, pred_tf: torch.Tensor, pred_ro: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The reconstruction objective: x [B*L, 3, H, W], z [B, L, D], predictions [B, K, D] ->
        mean squared pixel errors (pixels in -0.5 .. 0.5) of every frame decoded from its
        embedding (``recon``) and of the K next frames decoded from the teacher-forced and the
        rolled-out predictions (``pred_tf``, ``pred_rollout``), summed with equal weights."""
        assert self.decoder is not None
        b, length, d = z.shape
        k = pred_tf.shape[1]
        frames = x.view(b, length, *x.shape[1:])  # [B, L, 3, H, W]
        nxt = frames[:, self.cfg.history :]  # [B, K, 3, H, W]
        codes = torch.cat([z.reshape(-1, d), pred_tf.reshape(-1, d), pred_ro.reshape(-1, d)])
        decoded = self.decoder(codes)  # [B*L + 2*B*K, 3, H, W], one batched call
        recon, tf, ro = decoded.split([b * length, b * k, b * k])
        parts = {
            "recon": F.mse_loss(recon, x),
            "pred_tf": F.mse_loss(tf.view_as(nxt), nxt),
            "pred_rollout": F.mse_loss(ro.view_as(nxt), nxt),
        }
        return parts["recon"] + parts["pred_tf"] + parts["pred_rollout"], parts


class WorldModel(nn.Module):
    """A trained world model, ready for a planner (always in eval mode).

    - ``encode(frames uint8 [B, H, W, 3]) -> [B, D]``
    - ``rollout(history [B, T, D], actions [B, H, A], past_actions [B, T-1, A]) -> [B, H, D]``
      with T == ``history``; ``past_actions`` (the actions taken between the history's frames)
      only for a model with ``action_history``
    - ``surprise(frames uint8 [T+1, H, W, 3], actions [T, A]) -> [T - history + 1]`` (or with a
      batch axis in front): the one-step prediction error per decision (:mod:`worldmodel.surprise`)
    """

    def __init__(
        self,
        encoder: nn.Module,
        predictor: nn.Module,
        *,
        image_size: int,
        action_dim: int,
        history: int,
        embed_dim: int,
        action_history: bool = False,
        info: dict | None = None,
    ):
        super().__init__()
        self.encoder, self.predictor = encoder, predictor
        self.image_size, self.action_dim = image_size, action_dim
        self.history, self.embed_dim = history, embed_dim
        self.action_history = action_history
        """Whether the predictor reads the actions between the history's frames (``rollout``'s
        ``past_actions``)."""
        self.info = info or {}
        self.surprise_stats: tuple[float, float] | None = None
        """Mean and standard deviation of surprise on normal data (:meth:`calibrate_surprise`)."""
        self.surprise_horizon = 1
        """The surprise horizon that ``surprise_stats`` were measured at."""
        self.eval()

    @classmethod
    def from_jepa(
        cls, jepa: JEPA, image_size: int, action_dim: int, info: dict | None = None
    ) -> WorldModel:
        """The planning-time view of ``jepa`` (it shares its modules). With an EMA target,
        predictions live in the target encoder's space, so that encoder is the one planned in."""
        cfg = jepa.cfg  # the recipe resolved
        encoder = jepa.target_encoder if jepa.target_encoder is not None else jepa.encoder
        return cls(
            encoder,
            jepa.predictor,
            image_size=image_size,
            action_dim=action_dim,
            history=jepa.history,
            embed_dim=cfg.embed_dim,
            action_history=jepa.action_history,
            info=info,
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def train(self, mode: bool = True) -> WorldModel:
        return super().train(False)  # BatchNorm must use its running statistics when planning

    @torch.no_grad()
    def encode(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames [B, H, W, 3] (NumPy or torch) -> float32 embeddings [B, D].

        Integer frames with values in 0..255 are accepted as pixels; float frames are refused
        (a frame in [0, 1] read as pixels would give other embeddings without any error).
        """
        # A copy: memory-mapped or flipped frames are read-only or have negative strides.
        frames = frames if torch.is_tensor(frames) else torch.from_numpy(np.array(frames))
        self._check_frame_shape(tuple(frames.shape))
        if frames.dtype != torch.uint8:
            if frames.is_floating_point() or frames.is_complex() or frames.dtype == torch.bool:
                raise InputError(
                    f"encode expects uint8 pixel frames (0..255), got {frames.dtype}; frames in "
                    f"[0, 1] must be converted: (frames * 255).round() as uint8"
                )
            lo, hi = (int(frames.min()), int(frames.max())) if frames.numel() else (0, 0)
            if lo < 0 or hi > 255:
                raise InputError(
                    f"encode expects pixel values 0..255, got values in {lo}..{hi}; "
                    f"clip or rescale the frames to 0..255 (uint8)"
                )
            frames = frames.to(torch.uint8)
        return self.encoder(frames_to_input(frames.to(self.device))).float()

    def _check_frame_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse frames that are not [B, S, S, 3], with the fix for the likely mistake."""
        s = self.image_size
        if len(shape) == 4 and shape[1:] == (s, s, 3):
            return
        if len(shape) == 3 and shape == (s, s, 3):
            fix = "a single frame: add a batch axis (frames[None])"
        elif len(shape) == 4 and shape[1] == 3 and shape[2:] == (s, s):
            fix = "channels first: move channels last (frames.permute(0, 2, 3, 1))"
        elif len(shape) == 3 and shape == (3, s, s):
            fix = "a single channel-first frame: move channels last and add a batch axis"
        elif len(shape) == 4 and shape[-1] == 3:
            fix = "resize frames to the model's image size"
        else:
            fix = "frames must be a batch of RGB images with the channel axis last"
        raise InputError(f"encode expects uint8 frames [B, {s}, {s}, 3], got {shape}; {fix}")

    def rollout(
        self,
        history: torch.Tensor | np.ndarray,
        actions: torch.Tensor | np.ndarray,
        past_actions: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        """history [B, T, D], actions [B, H, A] -> predicted embeddings [B, H, D].

        ``past_actions [B, T-1, A]``: the actions taken between the history's frames, oldest
        first. A model with ``action_history`` needs them; others ignore them, so a caller may
        always pass them.

        NumPy arrays and float64 input are converted to the model's device and dtype. The result
        carries no autograd graph unless an input requires grad (a planner that differentiates
        through the rollout, such as ``gd``, passes actions that do).
        """
        history, actions = self._as_input(history, "history"), self._as_input(actions, "actions")
        if (
            history.ndim != 3
            or history.shape[1] != self.history
            or history.shape[2] != self.embed_dim
        ):
            raise InputError(
                f"rollout expects history [B, {self.history}, {self.embed_dim}], got {tuple(history.shape)}"
            )
        if (
            actions.ndim != 3
            or actions.shape[2] != self.action_dim
            or actions.shape[0] != history.shape[0]
        ):
            raise InputError(
                f"rollout expects actions [B, H, {self.action_dim}], got {tuple(actions.shape)}"
            )
        past = self._past_input(past_actions, history.shape[0])  # [B, T-1, A] or None
        differentiate = torch.is_grad_enabled() and (history.requires_grad or actions.requires_grad)
        with torch.set_grad_enabled(differentiate):
            if past is not None:
                past = past.to(history.dtype)
            return rollout(self.predictor, history, actions.to(history.dtype), past)

    def _past_input(
        self, past_actions: torch.Tensor | np.ndarray | None, batch: int
    ) -> torch.Tensor | None:
        """``rollout``'s past actions, checked: [B, T-1, A] for a model with an action
        history, None for one without."""
        if not self.action_history:
            return None
        shape = (batch, self.history - 1, self.action_dim)
        if past_actions is None:
            raise InputError(
                "this model's predictor reads the actions between its history's frames "
                f"(model.action_history=true): pass past_actions {list(shape)} to rollout"
            )
        past = self._as_input(past_actions, "past_actions")
        if tuple(past.shape) != shape:
            raise InputError(
                f"rollout expects past_actions {list(shape)} (the actions between the "
                f"history's {self.history} frames), got {tuple(past.shape)}"
            )
        return past

    def surprise(
        self,
        frames: np.ndarray | torch.Tensor,
        actions: np.ndarray | torch.Tensor,
        *,
        normalize: bool = False,
        horizon: int = 1,
    ) -> torch.Tensor:
        """frames uint8 [T+1, H, W, 3], actions [T, A] (or [B, T+1, ...], [B, T, A]) -> surprise
        float32 [T - history - horizon + 2] (or [B, ...]): the squared error (mean over D) of the
        embedding predicted from the true history and actions, ``horizon`` decisions open loop,
        against the embedding of what then happened; entry j belongs to decision ``j + history +
        horizon - 2``. ``normalize=True`` gives ``(s - mean) / std`` of normal data (needs
        :meth:`calibrate_surprise` at the same horizon)."""
        from worldmodel.surprise import surprise

        return surprise(self, frames, actions, normalize=normalize, horizon=horizon)

    def calibrate_surprise(
        self,
        frames: np.ndarray | torch.Tensor,
        actions: np.ndarray | torch.Tensor,
        horizon: int = 1,
    ) -> tuple[float, float]:
        """Store and return (mean, std) of surprise over normal episodes frames [B, T+1, H, W, 3],
        actions [B, T, A], for ``surprise(..., normalize=True, horizon=horizon)``."""
        from worldmodel.surprise import calibrate

        return calibrate(self, frames, actions, horizon)

    def _as_input(self, x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
        """A float tensor on the model's device (low-precision floats kept, for autocast)."""
        if not torch.is_tensor(x):
            try:
                x = torch.as_tensor(np.asarray(x))
            except (TypeError, ValueError) as e:
                raise InputError(
                    f"rollout expects {name} as a torch tensor or NumPy array of numbers, got "
                    f"{type(x).__name__} ({e})"
                ) from None
        if x.is_complex() or x.dtype == torch.bool:
            raise InputError(f"rollout expects real-valued {name}, got {x.dtype}")
        if x.dtype not in (torch.float16, torch.bfloat16):
            x = x.to(next(self.predictor.parameters()).dtype)
        return x.to(self.device)
