"""People per frame and track-id consistency of one or more runs, from their results.jsonl (no labels needed).

    python tools/tracking_report.py out/every/results.jsonl out/tracked/results.jsonl

For each run: frames, people per frame (mean, median, min), distinct track ids, id switches and untracked rows.
An id switch is a person whose box overlaps (IoU >= --iou) a person of the previous frame that had another id: the
same body changed id. Used to compare the detector on every frame with ROI tracking (tracked_pose's detect_every)
on the same clip: the README's tracking table comes from it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.tracking.bytetrack import iou_matrix  # noqa: E402


def read_frames(path: Path) -> list[list[dict]]:
    frames = []
    with path.open() as f:
        for line in f:
            record = json.loads(line)
            if "persons" in record:
                frames.append(record["persons"] or [])
    return frames


def report(frames: list[list[dict]], iou: float = 0.5) -> dict:
    counts = np.array([len(p) for p in frames])
    ids, switches, untracked = set(), 0, 0
    previous: list[dict] = []
    for people in frames:
        for p in people:
            if p.get("track_id") is None or p["track_id"] < 0:
                untracked += 1
            else:
                ids.add(p["track_id"])
        if previous and people:
            m = iou_matrix(np.array([p["bbox"] for p in people], float), np.array([p["bbox"] for p in previous], float))
            for i, p in enumerate(people):
                j = int(np.argmax(m[i]))
                if m[i, j] >= iou and p.get("track_id") != previous[j].get("track_id"):
                    switches += 1
        previous = people
    return {"frames": len(frames), "people_mean": round(float(counts.mean()), 2) if len(counts) else 0.0,
            "people_median": float(np.median(counts)) if len(counts) else 0.0,
            "people_min": int(counts.min()) if len(counts) else 0, "track_ids": len(ids), "id_switches": switches,
            "untracked_rows": untracked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--iou", type=float, default=0.5)
    args = parser.parse_args()
    for path in args.results:
        if not path.is_file():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
        print(json.dumps({"results": str(path), **report(read_frames(path), args.iou)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
