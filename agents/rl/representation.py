"""What an RL agent sees: frozen JEPA embeddings, or the privileged state, of a pixel env.

- :class:`JEPAObservation`, a Gymnasium wrapper: uint8 frames ``[H, W, 3]`` -> float32
  embeddings ``[D * k]`` of the last k frames, from a frozen encoder (any pixel env).
- :class:`StateObservation`, a Gymnasium wrapper for our worlds: frames -> the world's
  ``state_features`` of ``info["state"]`` (the baseline that sees the true state).
- ``JEPAExtractor``, a Stable-Baselines3 features extractor around the encoder, frozen or
  fine-tuned with the policy (needs ``pip install "worldmodel[sb3]"``; imported lazily).
"""

from __future__ import annotations

import functools
import importlib
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

import worldmodel
from envs.base import GoalEnv
from worldmodel.model import WorldModel, frames_to_input
from worldmodel.runtime.device import resolve_device

SB3_HINT = 'pip install "worldmodel[sb3]"'
"""How to install the optional RL dependencies (stable-baselines3, shimmy, matplotlib)."""


def optional(module: str, needed_for: str) -> ModuleType:
    """Import an optional dependency, or raise ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = (e.name or module).split(".")[0]
        raise ImportError(
            f"{needed_for} needs the optional package {package!r}, which is not installed: "
            f"{SB3_HINT}"
        ) from e


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float images [N, C, H, W] -> [N, C, size, size] (bilinear, antialiased); same if equal."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _load(model_or_path: WorldModel | str | Path, device: str) -> WorldModel:
    if isinstance(model_or_path, WorldModel):
        return model_or_path if device == "auto" else model_or_path.to(resolve_device(device))
    return worldmodel.load(str(model_or_path), device=device)


class JEPAObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Frames -> frozen JEPA embeddings of the last ``frame_history`` frames.

    The encoder runs in eval mode under ``torch.inference_mode`` on ``device`` (``auto``: the
    model's own device when a model is given, else CUDA when available). Frames of another size
    than the model's are resized (bilinear, antialiased; a non-square frame is squashed, so
    prefer rendering at the model's size). The observation is the embeddings of the last k frames
    concatenated oldest first, float32 ``[D * k]``; after a reset the first frame's embedding
    fills the history, as when the predictor starts an episode.

    Args:
        env: an env whose observations are uint8 RGB frames ``[H, W, 3]`` (our envs; a Shimmy
            ``dm_control/...`` id made with ``render_mode="rgb_array"`` and wrapped in
            ``gymnasium.wrappers.AddRenderObservation(env, render_only=True)``; any other).
        model_or_path: a loaded :class:`WorldModel`, or a checkpoint file or run folder.
        device: auto | cpu | cuda | cuda:N.
        frame_history: k, the frames whose embeddings are concatenated; None = ``model.history``,
            the embeddings the predictor reads.
    """

    def __init__(
        self,
        env: gym.Env,
        model_or_path: WorldModel | str | Path,
        device: str = "auto",
        frame_history: int | None = None,
    ) -> None:
        # Recorded in env.spec, so that gymnasium.make(env.spec) rebuilds this wrapper too.
        gym.utils.RecordConstructorArgs.__init__(
            self, model_or_path=model_or_path, device=device, frame_history=frame_history
        )
        gym.ObservationWrapper.__init__(self, env)
        self.frame_shape = _check_frame_space(env.observation_space, "JEPAObservation")
        self.model = _load(model_or_path, device)
        self.k = int(frame_history or self.model.history)
        if self.k < 1:
            raise ValueError(f"frame_history must be >= 1, got {frame_history}")
        dim = self.model.embed_dim * self.k
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self._history: deque[np.ndarray] = deque(maxlen=self.k)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        self._history.clear()
        return super().reset(**kwargs)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        z = self.encode(observation)  # [D]
        if not self._history:  # first frame of an episode: it fills the history
            self._history.extend([z] * (self.k - 1))
        self._history.append(z)
        return np.concatenate(self._history)  # [D * k], oldest first

    def encode(self, frame: np.ndarray) -> np.ndarray:
        """One uint8 frame [H, W, 3] -> its embedding, float32 [D]."""
        frame = np.asarray(frame)
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(
                f"JEPAObservation got a frame of shape {frame.shape} and dtype {frame.dtype}; "
                f"the env promised uint8 {self.frame_shape}"
            )
        model = self.model
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(frame)).to(model.device)[None]  # [1, H, W, 3]
            x = resize(frames_to_input(x), model.image_size)  # [1, 3, S, S]
            return model.encoder(x)[0].float().cpu().numpy()


class StateObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Frames -> the privileged state features of our worlds, float32 ``[F]``.

    The features are ``env.unwrapped.state_features(info["state"])`` concatenated in their
    order, those the world names in ``policy_state`` when it names them; for reacher: joint
    sin/cos, target position and joint velocities, the information in dm_control's own
    observation vector (position, to_target, velocity).
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        world = env.unwrapped
        if not isinstance(world, GoalEnv):
            raise TypeError(
                f"StateObservation needs one of our worlds (envs.make), not {type(world).__name__}; "
                "for another env use its own vector observation"
            )
        self._world = world
        n = self._features(np.zeros(world.state_size)).size
        self.observation_space = spaces.Box(-np.inf, np.inf, (n,), np.float32)

    def _features(self, state: np.ndarray) -> np.ndarray:
        parts = self._world.state_features(np.asarray(state)[None])  # name -> [1, k]
        names = self._world.policy_state or tuple(parts)
        return np.concatenate([parts[name][0] for name in names]).astype(np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(**kwargs)
        return self._features(info["state"]), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        _, reward, terminated, truncated, info = self.env.step(action)
        return self._features(info["state"]), float(reward), terminated, truncated, info


def _check_frame_space(space: gym.Space, who: str) -> tuple[int, int, int]:
    """The frame shape ``(H, W, 3)`` of a uint8 RGB Box space, or a ValueError saying why not."""
    if isinstance(space, spaces.Dict):
        raise ValueError(
            f"{who} needs pixel observations, got a Dict space with keys {list(space.spaces)}; "
            "for a state-based env made with render_mode='rgb_array' wrap it first in "
            "gymnasium.wrappers.AddRenderObservation(env, render_only=True)"
        )
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8:
        raise ValueError(
            f"{who} needs uint8 RGB frames [H, W, 3], got {space}; pass pixel observations "
            "(e.g. AddRenderObservation(env, render_only=True))"
        )
    shape = tuple(int(s) for s in space.shape)
    if len(shape) != 3 or shape[-1] != 3:
        hint = (
            "; the frames look channel-first: move the channel axis last"
            if len(shape) == 3 and shape[0] == 3
            else "; the encoder reads RGB frames with the channel axis last"
        )
        raise ValueError(f"{who} needs uint8 RGB frames [H, W, 3], got shape {shape}{hint}")
    return shape  # type: ignore[return-value]


class JEPAFeatures(nn.Module):
    """The encoder as a policy's feature network: images in [0, 1] -> ``[B, D * k]``.

    Reads what a Stable-Baselines3 policy passes its features extractor for an image space (its
    default ``normalize_images=True`` divides by 255): float ``[B, 3k, H, W]`` (channel-first,
    SB3's ``VecTransposeImage``) or ``[B, H, W, 3k]``, where k frames are stacked along the
    channels oldest first (``VecFrameStack``). Each frame is encoded on its own (resized when
    its size differs from the model's) and the k embeddings are concatenated.

    With ``freeze=True`` the encoder gets no gradients and stays in eval mode whatever mode the
    policy is put in (its BatchNorm keeps its running statistics); with ``freeze=False`` it is
    trained with the policy, its BatchNorm following the policy's train/eval mode.
    """

    def __init__(self, observation_space: gym.Space, checkpoint: str | Path, freeze: bool = True):
        super().__init__()
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise ValueError(
                f"JEPAExtractor needs image observations [C, H, W] or [H, W, C], got {observation_space}"
            )
        shape = tuple(int(s) for s in observation_space.shape)
        self.channels_first = shape[0] < shape[-1]
        channels = shape[0] if self.channels_first else shape[-1]
        if channels % 3:
            raise ValueError(
                f"JEPAExtractor needs RGB frames (3 channels per stacked frame), got an image "
                f"space of shape {shape} with {channels} channels"
            )
        model = worldmodel.load(str(checkpoint), device="cpu")  # the policy moves it
        self.k, self.image_size, self.embed_dim = channels // 3, model.image_size, model.embed_dim
        self.features_dim = self.embed_dim * self.k
        self.encoder = model.encoder
        self.freeze = bool(freeze)
        if self.freeze:
            self.encoder.requires_grad_(False)
        self.train()

    def train(self, mode: bool = True) -> JEPAFeatures:
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs if self.channels_first else obs.movedim(-1, -3)  # [B, 3k, H, W]
        b, _, h, w = x.shape
        x = x.reshape(b * self.k, 3, h, w) - 0.5  # [B*k, 3, H, W], centred as in training
        x = resize(x, self.image_size)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            z = self.encoder(x)  # [B*k, D]
        return z.reshape(b, self.features_dim)


def _extractor_base(needed_for: str) -> Any:
    """SB3's ``BaseFeaturesExtractor`` (a class known only at run time), or ImportError with the
    install hint."""
    return optional("stable_baselines3.common.torch_layers", needed_for).BaseFeaturesExtractor


@functools.cache
def _extractor_class() -> type:
    """Build ``JEPAExtractor`` on first use, so that SB3 is imported only when needed."""
    extractor_base: Any = _extractor_base("JEPAExtractor")

    class JEPAExtractor(extractor_base):
        """Stable-Baselines3 features extractor around a JEPA encoder (see :class:`JEPAFeatures`).

        Use with ``policy_kwargs=dict(features_extractor_class=JEPAExtractor,
        features_extractor_kwargs=dict(checkpoint=PATH, freeze=True))`` on pixel observations.
        A saved SB3 model holds the (fine-tuned) weights; loading it reads ``checkpoint`` again
        for the encoder's architecture, so that file must still be there. For frozen features
        :class:`JEPAObservation` is much cheaper: it encodes each frame once, and the replay
        buffer holds embeddings instead of frames.
        """

        def __init__(
            self, observation_space: gym.Space, checkpoint: str | Path, freeze: bool = True
        ):
            features = JEPAFeatures(observation_space, checkpoint, freeze)
            super().__init__(observation_space, features.features_dim)
            self.features = features

        def forward(self, observations: torch.Tensor) -> torch.Tensor:
            return self.features(observations)

    JEPAExtractor.__module__, JEPAExtractor.__qualname__ = __name__, "JEPAExtractor"
    return JEPAExtractor


@functools.cache
def _trunk_class() -> type:
    """Build ``TrunkExtractor`` on first use, so that SB3 is imported only when needed."""
    extractor_base: Any = _extractor_base("TrunkExtractor")

    class TrunkExtractor(extractor_base):
        """A learned trunk on flat features: ``[B, F]`` -> Linear -> LayerNorm -> tanh ->
        ``[B, features_dim]``, the head that DrQ and CURL put between their encoder and the
        actor's and critic's MLPs. Each of them trains its own (SAC does not share extractors)."""

        def __init__(self, observation_space: gym.Space, features_dim: int = 50):
            if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
                raise ValueError(f"TrunkExtractor needs flat features [F], got {observation_space}")
            super().__init__(observation_space, features_dim)
            self.trunk = nn.Sequential(
                nn.Linear(observation_space.shape[0], features_dim),
                nn.LayerNorm(features_dim),
                nn.Tanh(),
            )

        def forward(self, observations: torch.Tensor) -> torch.Tensor:  # [B, F] -> [B, N]
            return self.trunk(observations)

    TrunkExtractor.__module__, TrunkExtractor.__qualname__ = __name__, "TrunkExtractor"
    return TrunkExtractor


def __getattr__(name: str) -> Any:
    if name == "JEPAExtractor":
        return _extractor_class()
    if name == "TrunkExtractor":
        return _trunk_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
