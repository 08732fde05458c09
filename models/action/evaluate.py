"""`percept action eval`: per-frame mAP (THUMOS'14), mcAP (TVSeries) and early recognition (accuracy after 10/25/50/100 %
of each video) of a checkpoint on a dataset's test split."""
from __future__ import annotations

import numpy as np

from models.action.augment import PoseNoise, augment_windows
from models.action.checkpoint import load_model
from models.action.data import load_dataset
from models.action.inference import predict_videos
from models.action.metrics import early_accuracy, frame_map
from models.action.train import pick_device
from pipeline.errors import PerceptError


def perturb_videos(videos: list[np.ndarray], seed: int = 0, threshold: float = 0.3) -> list[np.ndarray]:
    """Test features as a noisy pose estimator would give them (jitter, missed keypoints, an occluded limb, scale
    and turn errors; no mirror, the whole video one track), seeded: a robustness check for clean test data."""
    rng = np.random.default_rng(seed)
    noise = PoseNoise(mirror=0.0, late_start=0.0, occlude=0.5)
    return [augment_windows(v[None], rng, noise, threshold)[0] for v in videos]


def evaluate(data_dir, ckpt_dir, device: str = "auto", perturb: bool = False, seed: int = 0) -> dict:
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
    features = [v.features for v in dataset.test]
    if perturb:
        features = perturb_videos(features, seed, cfg.feature.get("keypoint_threshold", 0.3))
    probs = predict_videos(model, cfg, features, dev)
    early = early_accuracy(probs, [v.targets for v in dataset.test])
    scores = np.concatenate(probs)
    targets = np.concatenate([v.targets for v in dataset.test])
    m_ap, per_class = frame_map(scores, targets, cfg.classes)
    mc_ap, per_class_c = frame_map(scores, targets, cfg.classes, calibrated=True)
    return {"model": cfg.kind, "size": cfg.size, "perturbed": perturb, "frames": int(len(scores)), "videos": len(dataset.test),
            "mAP": round(m_ap, 4), "mcAP": round(mc_ap, 4),
            "early_accuracy": {k: round(v, 4) for k, v in early.items()},
            "per_class_AP": {k: round(v, 4) for k, v in per_class.items()},
            "per_class_cAP": {k: round(v, 4) for k, v in per_class_c.items()}}
