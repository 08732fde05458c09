"""Trains the demo skeleton action model shipped in assets/models/action/ and calibrates its abstention threshold.

python tools/train_demo_action.py [--train-videos 100 --test-videos 40 --epochs 6]

What it learns from (see docs/actions.md, "The shipped demo model"):
- the procedural skeleton motion of models/action/synth.py (its classes; "idle" is the background class);
- real pose tracks, computed here by Percept's own tracking + pose graph on real clips whose licence allows
  shipping weights trained on them (REAL_TRAIN): ordinary motion as background, and the walking person of the
  bundled clip as `walk_in_place` (the features are centred on the hips, so walking across and in place look alike);
- all of it with pose-noise augmentation (models/action/augment.py).
The threshold from which the stage shows an action is calibrated (models/action/calibrate.py) on real clips kept
out of training (REAL_CALIBRATION) and the procedural test split. The carphone-like check (a seated person with a
hand at the face, tests/action/test_abstaining_demo.py) is on a clip used for neither.

Needs ../shared/data (the real clips). Writes the checkpoint, eval.json and calibration.json beside it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models.action.calibrate import calibrate_model
from models.action.checkpoint import load_model
from models.action.config import ActionModelConfig
from models.action.data import ActionDataset, Video, load_dataset, save_dataset
from models.action.evaluate import evaluate
from models.action.recordings import read_segments, unlabelled_videos
from models.action.synth import ACTIONS, generate_dataset
from models.action.train import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "models" / "action" / "skeleton_oadtr_lite"
DATA = ROOT.parent / "shared" / "data"
# name: clip. Licences in NOTICE (bundled clip: BSD-3-Clause; MMAction2 demo/test clips: Apache-2.0 repository).
REAL_TRAIN = {
    "people": ROOT / "assets" / "sample_people" / "people.mp4",
    "arm_wrestling": DATA / "action_clips" / "demo_demo.mp4",
    "two_people_room": DATA / "action_clips" / "demo_demo_skeleton.mp4",
    "pool_cleaning": DATA / "action_clips" / "tests_data_test.mp4",
}
REAL_CALIBRATION = {"basketball": DATA / "action_clips" / "demo_test_video_structuralize.mp4"}
REAL_REPEAT = 10  # the real tracks are few (about 1,000 frames): each is seen this often per epoch
TRACK_POSE_GRAPH = "stages:\n  - {name: detector, type: person_detector}\n  - {name: tracker, type: tracker}\n" \
                   "  - {name: pose, type: pose}\n"
MIN_FRAMES = 16
MAX_GAP = 30  # the stage's max_missing_frames
FEATURE = {"type": "skeleton", "keypoints": "coco17"}


def pose_tracks(clip: Path, work: Path) -> Path:
    """results.jsonl of Percept's tracking + pose graph on ``clip`` (offline: every frame)."""
    graph = work / "track_pose.yaml"
    graph.write_text(TRACK_POSE_GRAPH)
    out = work / clip.stem
    subprocess.run([sys.executable, "-m", "app.cli", "run", "--source", str(clip), "--graph", str(graph),
                    "--headless", "--no-video", "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    return out / "results.jsonl"


def walking(keypoints: np.ndarray) -> bool:
    """A track that crosses the scene: its hips travel more than three torso lengths sideways."""
    hips = (keypoints[:, 11, :2] + keypoints[:, 12, :2]) / 2
    torso = np.median(np.linalg.norm((keypoints[:, 5, :2] + keypoints[:, 6, :2]) / 2 - hips, axis=1))
    return float(np.ptp(hips[:, 0])) > 3 * max(torso, 1.0)


def real_videos(clips: dict[str, Path], work: Path) -> list[Video]:
    """Every track of every clip as one video: background (column 0), or walk_in_place for a walking track."""
    videos = []
    for name, clip in clips.items():
        results = pose_tracks(clip, work)
        segments = [s for s in read_segments(results, MAX_GAP) if len(s.frames) >= MIN_FRAMES]
        tracks = unlabelled_videos([results], FEATURE, MAX_GAP, MIN_FRAMES)  # the same segments, in order
        for seg, v in zip(segments, tracks, strict=True):
            targets = np.zeros((len(v.features), len(ACTIONS)), np.float32)
            walks = name == "people" and walking(np.stack(seg.keypoints))
            targets[:, ACTIONS.index("walk_in_place") if walks else 0] = 1
            videos.append(Video(f"real_{name}_{v.name}", v.features, targets))
    return videos


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-videos", type=int, default=100)
    ap.add_argument("--test-videos", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-false-rate", type=float, default=0.05)  # of a sports clip: see docs/actions.md
    args = ap.parse_args()
    missing = [str(p) for p in [*REAL_TRAIN.values(), *REAL_CALIBRATION.values()] if not p.is_file()]
    if missing:
        sys.exit(f"error: the real clips are missing ({', '.join(missing)}); they live in ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        real_train, real_cal = real_videos(REAL_TRAIN, work), real_videos(REAL_CALIBRATION, work)
        classes, videos = generate_dataset(args.train_videos, args.test_videos, seed=args.seed)
        data = work / "data"
        save_dataset(data, classes, videos)
        (data / "feature.json").write_text(json.dumps(FEATURE))
        dataset = ActionDataset(data, classes, videos["train"] + real_train * REAL_REPEAT, [])
        start = time.perf_counter()
        train(dataset, OUT, TrainOptions(model="oadtr", size="lite", epochs=args.epochs, seed=args.seed,
                                         device="cpu", augment=True, progress=not args.no_progress), feature=FEATURE)
        seconds = time.perf_counter() - start
        result = evaluate(data, OUT, "cpu")
        cfg, model = load_model(OUT)
        cal = calibrate_model(model, cfg, real_cal, load_dataset(data, splits=("test",)).test, "cpu",
                              args.max_false_rate)
    cfg = ActionModelConfig.load(OUT / "config.json")
    cfg.label_threshold = round(cal.threshold, 4)
    cfg.save(OUT / "config.json")
    for extra in ("train_state.json", "optimizer.safetensors"):
        (OUT / extra).unlink(missing_ok=True)  # ship weights and config only
    result["training"] = {**vars(args), "seconds": round(seconds, 1), "augment": True,
                          "real_train": {k: str(v.relative_to(ROOT.parent) if v.is_relative_to(ROOT.parent) else v)
                                         for k, v in REAL_TRAIN.items()},
                          "real_train_frames": int(sum(len(v.features) for v in real_train)),
                          "real_walk_frames": int(sum(v.targets[:, ACTIONS.index("walk_in_place")].sum()
                                                      for v in real_train))}
    (OUT / "eval.json").write_text(json.dumps(result, indent=2))
    calibration = {**cal.as_dict(), "max_false_rate": args.max_false_rate,
                   "background": {k: str(v.relative_to(ROOT.parent)) for k, v in REAL_CALIBRATION.items()},
                   "actions": "procedural test split"}
    (OUT / "calibration.json").write_text(json.dumps(calibration, indent=2))
    print(json.dumps({**{k: result[k] for k in ("mAP", "mcAP", "frames", "videos")}, "calibration": calibration}))


if __name__ == "__main__":
    main()
