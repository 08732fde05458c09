"""Calibration benchmarks on the real data in ../shared/data: `python -m calibration.calibration_bench [DATA_DIR]`.

Prints stereo-calibration quality, Middlebury 2003 disparity error and time, and depth-alignment time.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from calibration.boards import Board
from calibration.calibrate import calibrate_stereo, expand_images
from calibration.camera import Extrinsics, Intrinsics
from calibration.disparity import DisparityEstimator
from calibration.registration import DepthAligner


def middlebury_error(disp: np.ndarray, gt_path: Path) -> float:
    gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 4.0
    known = gt > 0
    bad = ~np.isfinite(disp) | (np.abs(disp - gt) > 2.0)
    return float(bad[known].mean() * 100)


def bench_disparity(root: Path, repeats: int = 10) -> dict:
    est = DisparityEstimator()
    out = {}
    for scene in ("cones", "teddy"):
        left, right = cv2.imread(str(root / scene / "im2.png")), cv2.imread(str(root / scene / "im6.png"))
        est.compute(left, right)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            disp = est.compute(left, right)
            times.append((time.perf_counter() - t) * 1000)
        out[scene] = {"bad_2px_percent": round(middlebury_error(disp, root / scene / "disp2.pgm"), 2),
                      "ms_per_pair_median": round(float(np.median(times)), 1)}
    return out


def bench_align(repeats: int = 100) -> dict:
    from_depth = Intrinsics(640, 480, 385.0, 385.0, 320.0, 240.0)
    to_color = Intrinsics(640, 480, 615.0, 615.0, 322.0, 238.0)
    aligner = DepthAligner(from_depth, to_color, Extrinsics(np.eye(3), np.array([0.015, 0.0, 0.0])))
    yy, xx = np.mgrid[0:480, 0:640]
    depth = (1500 + 500 * np.sin(xx / 40.0) + 300 * (yy > 240)).astype(np.uint16)
    aligner.align(depth)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        aligned = aligner.align(depth)
        times.append((time.perf_counter() - t) * 1000)
    return {"ms_median": round(float(np.median(times)), 2), "coverage": round(float((aligned > 0).mean()), 4)}


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PERCEPT_DATA", Path(__file__).resolve()
                                                                         .parents[2] / "shared" / "data"))
    result: dict = {"align_640x480": bench_align()}
    if (root / "middlebury2003").is_dir():
        result["middlebury2003"] = bench_disparity(root / "middlebury2003")
    if (root / "stereo_chessboard").is_dir():
        d = root / "stereo_chessboard"
        t = time.perf_counter()
        report = calibrate_stereo(expand_images(str(d / "left*.jpg")), expand_images(str(d / "right*.jpg")),
                                  Board.parse("chessboard:9x6", 0.024)).to_dict()
        result["stereo_chessboard"] = {k: report[k] for k in ("rms_px", "baseline_m", "rectified_epipolar_error_px",
                                                               "pairs_used")}
        result["stereo_chessboard"]["seconds"] = round(time.perf_counter() - t, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
