"""Checkpoints as a folder of safetensors + JSON (never pickles):

CKPT/config.json            ActionModelConfig
CKPT/model.safetensors      weights
CKPT/train_state.json       epoch, seed, history, optimizer param groups (for --resume)
CKPT/optimizer.safetensors  optimizer tensors (for --resume)
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.action.config import ActionModelConfig
from models.action.nets import build_model
from pipeline.errors import PerceptError


def save_model(folder: Path, cfg: ActionModelConfig, model: torch.nn.Module) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    cfg.save(folder / "config.json")


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> tuple[ActionModelConfig, torch.nn.Module]:
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise PerceptError(f"{folder} is not an action checkpoint (needs config.json and model.safetensors)")
    try:
        cfg = ActionModelConfig.load(folder / "config.json")
        model = build_model(cfg)
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))
    except (SafetensorError, ValueError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
        raise PerceptError(f"checkpoint {folder} is corrupt or does not match its config: "
                           f"{str(exc).splitlines()[0]}") from exc
    return cfg, model.to(device).eval()


def save_train_state(folder: Path, optimizer: torch.optim.Optimizer, info: dict) -> None:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    info = {**info, "param_groups": sd["param_groups"], "optimizer_scalars": scalars}
    tmp = folder / "train_state.json.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(folder / "train_state.json")


def load_train_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict:
    info = json.loads((folder / "train_state.json").read_text())
    tensors = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    for name, value in info.pop("optimizer_scalars").items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": info.pop("param_groups")})
    return info
