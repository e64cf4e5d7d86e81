"""Loading a trained world model and checking that it fits an environment."""

from __future__ import annotations

from typing import Any

from worldmodel.checkpoint import CheckpointError, config_from_dict, read
from worldmodel.model import JEPA, WorldModel
from worldmodel.runtime.device import resolve_device
from worldmodel.runtime.errors import InputError


def load(path: str, device: str = "auto", env: Any = None) -> WorldModel:
    """A :class:`WorldModel` from a checkpoint file (or a run folder holding ``checkpoint.pt``).

    With ``env`` (a Gymnasium env with pixel observations), a model trained for another image
    size or action dimension is rejected with a message that says which.
    """
    dev = resolve_device(device)
    payload = read(path)
    missing = [key for key in ("config", "env", "model", "step") if key not in payload]
    if missing:
        raise CheckpointError(
            f"{payload['path']}: checkpoint lacks {', '.join(missing)} (a partial or hand-made "
            f"file); use the checkpoint.pt written by `python -m worldmodel.train`"
        )
    cfg = config_from_dict(payload["config"])
    meta = payload["env"]
    jepa = JEPA(cfg.model, meta["image_size"], meta["action_dim"])
    try:
        jepa.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{payload['path']}: weights do not fit the stored config ({str(e).splitlines()[0]})"
        ) from None
    info = {
        "path": payload["path"],
        "step": payload["step"],
        "env": meta,
        "data": payload.get("data", {}),
        "config": payload["config"],
        "complete": payload.get("complete", False),
    }
    model = WorldModel.from_jepa(jepa, meta["image_size"], meta["action_dim"], info).to(dev)
    if env is not None:
        check_compatible(model, env)
    return model


def check_compatible(model: WorldModel, env: Any) -> None:
    """Raise CheckpointError when ``env``'s frames or actions do not match the model's."""
    obs_shape = tuple(env.observation_space.shape)
    act_dim = int(env.action_space.shape[0])
    where = model.info.get("path", "the checkpoint")
    if obs_shape != (model.image_size, model.image_size, 3):
        raise CheckpointError(
            f"{where}: trained on {model.image_size}x{model.image_size} frames but the env gives "
            f"{obs_shape}; use a checkpoint trained at this size or set env.image_size={model.image_size}"
        )
    if act_dim != model.action_dim:
        raise CheckpointError(
            f"{where}: trained with {model.action_dim}-d actions (world "
            f"{model.info.get('env', {}).get('key', '?')}) but the env has {act_dim}-d actions; use a checkpoint of this world"
        )


def model_dataset(model: WorldModel, data_dir: str | None = None, verify: bool = True):
    """The data set a command reads for ``model``: its own training data, or ``data_dir`` if
    given, which must hold episodes of the model's world at its image size (one clear line
    otherwise). Returns an :class:`worldmodel.data.EpisodeDataset`."""
    from worldmodel.data import EpisodeDataset

    own = model.info["data"]["dir"]
    path = data_dir or own
    dataset = EpisodeDataset(path, verify=verify, expect={"image_size": model.image_size})
    world, mine = dataset.manifest.get("env", {}).get("name"), model.info["config"]["env"]["name"]
    if world is not None and world != mine:
        raise InputError(
            f"data.dir={path} holds {world} episodes but {model.info.get('path')} is a {mine} "
            f"model; drop data.dir= to use the model's own data ({own}) or point it at {mine} data"
        )
    return dataset
