"""Training on a THUMOS-layout dataset: seeded, resumable, CPU or CUDA (mixed precision on CUDA)."""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from models.action.augment import augment_windows
from models.action.checkpoint import load_train_state, save_model, save_train_state
from models.action.config import ActionModelConfig
from models.action.data import ActionDataset, WindowSampler
from models.action.nets import build_model
from models.runtime.device import select_device, torch_device
from pipeline.errors import PerceptError

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    model: str = "oadtr"
    size: str = "lite"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    window: int | None = None  # overrides the size's window
    stride: int | None = None
    future_weight: float = 0.5
    progress: bool = True
    resume: bool = False
    augment: bool = False  # pose-noise augmentation (models/action/augment.py); skeleton features only


class TrainCancelled(Exception):
    """Raised by `train` when its ``cancel`` event is set; the checkpoint folder holds the last finished epoch (if
    any), so callers that must not leave a partial checkpoint train into a temporary folder."""


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainCancelled("training cancelled")


def pick_device(device: str) -> torch.device:
    """Training and evaluation: --device as everywhere else (models.runtime.device)."""
    return torch_device(select_device(device))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _soft_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against (possibly multi-hot) frame targets, normalised per frame."""
    targets = targets / targets.sum(dim=-1, keepdim=True).clamp_min(1e-6)
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def train(dataset: ActionDataset, out: Path, options: TrainOptions, feature: dict | None = None, *,
          on_step: Callable[[dict], None] | None = None, cancel: threading.Event | None = None) -> dict:
    """Train and write a checkpoint folder; returns the training history.

    ``on_step`` (for a UI: the progress bar is then off) is called after every optimizer step with {"step",
    "steps", "epoch", "epochs", "loss" (the epoch's running mean)}; ``cancel`` is checked before every step and
    once after the last, raising TrainCancelled."""
    device = pick_device(options.device)
    out = Path(out)
    resuming = options.resume and (out / "train_state.json").is_file()
    if resuming:
        cfg = ActionModelConfig.load(out / "config.json")
    else:
        overrides = {"window": options.window} if options.window else {}
        cfg = ActionModelConfig.create(options.model, options.size, dataset.feature_dim, dataset.classes,
                                       feature=feature or {}, **overrides)
    seed_everything(options.seed)
    model = build_model(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    start_epoch, history = 0, []
    if resuming:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "model.safetensors"), device=str(device)))
        info = load_train_state(out, optimizer)
        start_epoch, history = info["epoch"], info["history"]
        log.info("resuming %s at epoch %d", out, start_epoch)
    if options.augment and cfg.feature.get("type") != "skeleton":
        raise PerceptError("--augment perturbs skeleton features; this dataset's feature.json does not say "
                           "\"type\": \"skeleton\"")
    window = cfg.window if cfg.kind != "mlp" else 1
    sampler = WindowSampler(dataset.train, window, cfg.future_steps if cfg.kind != "mlp" else 0)
    # TRN trains every step of a window, so its windows start every quarter window; OadTR and the MLP train the last
    # step of each window, so every frame ends one window per epoch.
    stride = options.stride or (max(1, window // 4) if cfg.kind == "trn" else 1)
    n = (len(sampler) + stride - 1) // stride
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    from tqdm import tqdm

    total_steps = (options.epochs - start_epoch) * ((n + options.batch_size - 1) // options.batch_size)
    bar = tqdm(total=total_steps, desc=f"train {cfg.kind}-{cfg.size}", unit="step",
               disable=not options.progress or on_step is not None)
    step = 0
    for epoch in range(start_epoch, options.epochs):
        # per-epoch seeds (shuffle and dropout): a resumed run continues exactly as an uninterrupted one
        rng = np.random.default_rng(options.seed * 1000 + epoch)
        torch.manual_seed(options.seed * 1000 + epoch)
        ends = sampler.ends[rng.integers(0, stride) + np.arange(0, len(sampler) - stride + 1, stride)]
        ends = ends[rng.permutation(len(ends))]
        model.train()
        losses = []
        for i in range(0, len(ends), options.batch_size):
            _check_cancel(cancel)
            x, y, yf = sampler.gather(ends[i:i + options.batch_size])
            if options.augment:
                x = augment_windows(x, rng, threshold=cfg.feature.get("keypoint_threshold", 0.3))
            x, y, yf = (torch.from_numpy(a).to(device) for a in (x, y, yf))
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                logits, future_logits = _forward_for_training(model, cfg, x)
                loss = _soft_ce(logits, y[:, -logits.shape[1]:])
                if future_logits is not None and cfg.future_steps:
                    loss = loss + options.future_weight * _soft_ce(future_logits, yf[:, -future_logits.shape[1]:])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            bar.update(1)
            step += 1
            if on_step is not None:
                on_step({"step": step, "steps": total_steps, "epoch": epoch + 1, "epochs": options.epochs,
                         "loss": float(np.mean(losses))})
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        save_model(out, cfg, model)
        save_train_state(out, optimizer, {"epoch": epoch + 1, "history": history, "seed": options.seed,
                                          "options": {k: v for k, v in vars(options).items()}})
    bar.close()
    _check_cancel(cancel)
    if not history:
        save_model(out, cfg, model)
    return {"config": cfg, "history": history, "windows_per_epoch": n, "device": str(device)}


def _forward_for_training(model, cfg: ActionModelConfig, x: torch.Tensor):
    """TRN unrolls over the window; OadTR is trained on the last step of each window (its online use); the MLP
    sees single frames."""
    if cfg.kind == "trn":
        # Windows start from a zero state, as the streaming lanes do (StaggeredTRNState). The first quarter only
        # warms the state up: no loss there (streaming uses those steps only in a track's first frames).
        logits, futures = model(x)
        warm = x.shape[1] // 4
        return logits[:, warm:], futures[:, warm:]
    if cfg.kind == "oadtr":
        logits, futures = model.window_logits(x)
        return logits[:, None], futures[:, None]
    logits, _ = model(x)
    return logits, None
