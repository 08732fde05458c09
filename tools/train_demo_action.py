"""Trains the demo skeleton action model shipped in assets/models/action/ (a demo model: procedural data only).

python tools/train_demo_action.py [--train-videos 100 --test-videos 40 --epochs 6]
Writes the checkpoint and its held-out evaluation (eval.json) beside it. Uses the same code as `percept action`.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from models.action.data import load_dataset, save_dataset
from models.action.evaluate import evaluate
from models.action.synth import generate_dataset
from models.action.train import TrainOptions, train

OUT = Path(__file__).resolve().parents[1] / "assets" / "models" / "action" / "skeleton_oadtr_lite"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-videos", type=int, default=100)
    ap.add_argument("--test-videos", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        classes, videos = generate_dataset(args.train_videos, args.test_videos, seed=args.seed)
        save_dataset(data, classes, videos)
        dataset = load_dataset(data, splits=("train",))
        train(dataset, OUT, TrainOptions(model="oadtr", size="lite", epochs=args.epochs, seed=args.seed,
                                         device="cpu"), feature={"type": "skeleton", "keypoints": "coco17"})
        result = evaluate(data, OUT, "cpu")
    for extra in ("train_state.json", "optimizer.safetensors"):
        (OUT / extra).unlink(missing_ok=True)  # ship weights and config only
    result["training"] = vars(args)
    (OUT / "eval.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("mAP", "mcAP", "frames", "videos")}))


if __name__ == "__main__":
    main()
