"""`percept action eval`: per-frame mAP (THUMOS'14) and mcAP (TVSeries) of a checkpoint on a dataset's test split."""
from __future__ import annotations

import numpy as np

from models.action.checkpoint import load_model
from models.action.data import load_dataset
from models.action.inference import predict_videos
from models.action.metrics import frame_map
from models.action.train import pick_device
from pipeline.errors import PerceptError


def evaluate(data_dir, ckpt_dir, device: str = "auto") -> dict:
    dev = pick_device(device)
    cfg, model = load_model(ckpt_dir, dev)
    dataset = load_dataset(data_dir, splits=("test",))
    if not dataset.test:
        raise PerceptError(f"{data_dir}/split.json has no test videos")
    if dataset.classes != cfg.classes:
        raise PerceptError(f"the checkpoint's classes {cfg.classes} differ from the dataset's {dataset.classes}")
    if dataset.feature_dim != cfg.feature_dim:
        raise PerceptError(f"the checkpoint expects {cfg.feature_dim}-d features, the dataset has "
                           f"{dataset.feature_dim}")
    probs = predict_videos(model, cfg, [v.features for v in dataset.test], dev)
    scores = np.concatenate(probs)
    targets = np.concatenate([v.targets for v in dataset.test])
    m_ap, per_class = frame_map(scores, targets, cfg.classes)
    mc_ap, per_class_c = frame_map(scores, targets, cfg.classes, calibrated=True)
    return {"model": cfg.kind, "size": cfg.size, "frames": int(len(scores)), "videos": len(dataset.test),
            "mAP": round(m_ap, 4), "mcAP": round(mc_ap, 4),
            "per_class_AP": {k: round(v, 4) for k, v in per_class.items()},
            "per_class_cAP": {k: round(v, 4) for k, v in per_class_c.items()}}
