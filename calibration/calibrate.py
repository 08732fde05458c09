"""Intrinsic and stereo calibration with reports: RMS, per-view errors, coverage, skipped views with reasons,
and (stereo) rectification with the epipolar error measured after it."""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from calibration.boards import Board, detect
from calibration.camera import Extrinsics, Intrinsics
from calibration.errors import CalibrationError
from calibration.io import StereoCamera

MODELS = {"standard": 0, "rational": cv2.CALIB_RATIONAL_MODEL, "thin_prism": cv2.CALIB_RATIONAL_MODEL |
          cv2.CALIB_THIN_PRISM_MODEL}


def _natural_key(path: Path) -> list:
    """left2 before left10, so left and right globs pair up as people number their files."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def expand_images(pattern: str) -> list[Path]:
    paths = sorted((Path(p) for p in glob.glob(pattern)), key=_natural_key)
    if not paths:
        raise CalibrationError(f"no images match {pattern!r}")
    return paths


def _read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise CalibrationError(f"cannot read image {path}")
    return img


def coverage(points: list[np.ndarray], width: int, height: int, grid: tuple[int, int] = (8, 6)) -> float:
    """Share of the image's grid cells that hold at least one detected corner (1.0 = corners everywhere)."""
    cells = np.zeros(grid[::-1], bool)
    for p in points:
        gx = np.clip((p[:, 0] / width * grid[0]).astype(int), 0, grid[0] - 1)
        gy = np.clip((p[:, 1] / height * grid[1]).astype(int), 0, grid[1] - 1)
        cells[gy, gx] = True
    return float(cells.mean())


def _per_view_errors(obj, img, rvecs, tvecs, k, d) -> list[float]:
    errs = []
    for o, i, r, t in zip(obj, img, rvecs, tvecs):
        proj, _ = cv2.projectPoints(o, r, t, k, d)
        errs.append(float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - i) ** 2, axis=1)))))
    return errs


@dataclass
class IntrinsicsReport:
    intrinsics: Intrinsics
    rms_px: float
    per_view: dict[str, float]
    skipped: dict[str, str]
    coverage: float
    model: str

    def to_dict(self) -> dict:
        i = self.intrinsics
        return {"rms_px": round(self.rms_px, 4), "fx": i.fx, "fy": i.fy, "cx": i.cx, "cy": i.cy,
                "distortion": list(i.distortion), "width": i.width, "height": i.height, "model": self.model,
                "views_used": len(self.per_view), "per_view_rms_px": {k: round(v, 4) for k, v in self.per_view.items()},
                "skipped": self.skipped, "coverage": round(self.coverage, 3)}


def calibrate_intrinsics(paths: list[Path], board: Board, model: str = "standard",
                         max_blur_px: float = 5.0) -> IntrinsicsReport:
    obj, img, names, skipped = [], [], [], {}
    size = None
    for path in paths:
        gray = _read_gray(path)
        if size is None:
            size = gray.shape[::-1]
        elif gray.shape[::-1] != size:
            skipped[path.name] = f"size {gray.shape[1]}x{gray.shape[0]} differs from {size[0]}x{size[1]}"
            continue
        det = detect(gray, board, max_blur_px)
        if not det.found:
            skipped[path.name] = det.reason
            continue
        obj.append(det.object_points)
        img.append(det.image_points)
        names.append(path.name)
    if len(obj) < 3:
        raise CalibrationError(f"the board was found in {len(obj)} image(s); at least 3 are needed "
                               f"(skipped: {skipped})")
    if model not in MODELS:
        raise CalibrationError(f"model must be one of {', '.join(MODELS)}")
    rms, k, d, rvecs, tvecs = cv2.calibrateCamera(obj, img, size, None, None, flags=MODELS[model])
    errs = _per_view_errors(obj, img, rvecs, tvecs, k, d)
    intr = Intrinsics.from_matrix(k, size[0], size[1], d.ravel())
    return IntrinsicsReport(intr, float(rms), dict(zip(names, errs)), skipped, coverage(img, *size), model)


@dataclass
class StereoReport:
    camera: StereoCamera
    rms_px: float
    rectified_epipolar_error_px: float
    pairs_used: list[str]
    skipped: dict[str, str]
    left_rms_px: float
    right_rms_px: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        cam = self.camera

        def intr(i: Intrinsics, rms: float) -> dict:
            return {"fx": i.fx, "fy": i.fy, "cx": i.cx, "cy": i.cy, "distortion": list(i.distortion),
                    "width": i.width, "height": i.height, "rms_px": round(rms, 4)}

        rect = {k: np.asarray(v).tolist() for k, v in (cam.rectification or {}).items()}
        return {"rms_px": round(self.rms_px, 4), "baseline_m": round(cam.baseline_m, 6),
                "rectified_epipolar_error_px": round(self.rectified_epipolar_error_px, 4),
                "left": intr(cam.left, self.left_rms_px), "right": intr(cam.right, self.right_rms_px),
                "R": cam.left_to_right.rotation.tolist(), "T": cam.left_to_right.translation.tolist(),
                "rectification": rect, "pairs_used": len(self.pairs_used), "skipped": self.skipped}


def calibrate_stereo(left_paths: list[Path], right_paths: list[Path], board: Board, model: str = "standard",
                     max_blur_px: float = 5.0) -> StereoReport:
    if model not in MODELS:
        raise CalibrationError(f"model must be one of {', '.join(MODELS)}")
    if len(left_paths) != len(right_paths):
        raise CalibrationError(f"{len(left_paths)} left images but {len(right_paths)} right images; "
                               f"they must pair up in sorted order")
    obj, img_l, img_r, used, skipped = [], [], [], [], {}
    size = None
    for lp, rp in zip(left_paths, right_paths):
        gl, gr = _read_gray(lp), _read_gray(rp)
        size = size or gl.shape[::-1]
        if gl.shape[::-1] != size or gr.shape[::-1] != size:
            skipped[f"{lp.name}|{rp.name}"] = "image size differs"
            continue
        dl, dr = detect(gl, board, max_blur_px), detect(gr, board, max_blur_px)
        if not (dl.found and dr.found):
            skipped[f"{lp.name}|{rp.name}"] = f"left: {dl.reason or 'ok'}; right: {dr.reason or 'ok'}"
            continue
        if board.kind == "charuco":  # keep the corners seen in both views
            common = {tuple(p) for p in dl.object_points.tolist()} & {tuple(p) for p in dr.object_points.tolist()}
            ml = np.array([tuple(p) in common for p in dl.object_points.tolist()])
            mr = np.array([tuple(p) in common for p in dr.object_points.tolist()])
            if ml.sum() < 6:
                skipped[f"{lp.name}|{rp.name}"] = "too few corners seen by both cameras"
                continue
            obj.append(dl.object_points[ml])
            img_l.append(dl.image_points[ml])
            img_r.append(dr.image_points[mr])
        else:
            obj.append(dl.object_points)
            img_l.append(dl.image_points)
            img_r.append(dr.image_points)
        used.append(f"{lp.name}|{rp.name}")
    if len(obj) < 3:
        raise CalibrationError(f"the board was found in both images of {len(obj)} pair(s); at least 3 are needed")
    flags = MODELS[model]
    rms_l, k1, d1, _, _ = cv2.calibrateCamera(obj, img_l, size, None, None, flags=flags)
    rms_r, k2, d2, _, _ = cv2.calibrateCamera(obj, img_r, size, None, None, flags=flags)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 200, 1e-7)
    rms, k1, d1, k2, d2, r, t, _, _ = cv2.stereoCalibrate(
        obj, img_l, img_r, k1, d1, k2, d2, size, criteria=criteria,
        flags=cv2.CALIB_USE_INTRINSIC_GUESS | flags)
    r1, r2, p1, p2, q, _, _ = cv2.stereoRectify(k1, d1, k2, d2, size, r, t, flags=cv2.CALIB_ZERO_DISPARITY,
                                                alpha=0)
    dy = []
    for il, ir in zip(img_l, img_r):
        ul = cv2.undistortPoints(il.reshape(-1, 1, 2), k1, d1, R=r1, P=p1).reshape(-1, 2)
        ur = cv2.undistortPoints(ir.reshape(-1, 1, 2), k2, d2, R=r2, P=p2).reshape(-1, 2)
        dy.append(np.abs(ul[:, 1] - ur[:, 1]))
    camera = StereoCamera(Intrinsics.from_matrix(k1, *size, d1.ravel()), Intrinsics.from_matrix(k2, *size, d2.ravel()),
                          Extrinsics(r, t.ravel()), {"R1": r1, "R2": r2, "P1": p1, "P2": p2, "Q": q})
    return StereoReport(camera, float(rms), float(np.concatenate(dy).mean()), used, skipped, float(rms_l),
                        float(rms_r))
