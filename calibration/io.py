"""Camera files: OpenCV FileStorage YAML (so OpenCV users' files load) and JSON.

Keys read (first found): camera_matrix | K | M1 (left) | M2 (right), distortion_coefficients | D | D1 | D2,
image_width/image_height or width/height. Stereo files: M1, D1, M2, D2, R, T (+ R1, R2, P1, P2, Q).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from calibration.camera import Extrinsics, Intrinsics
from calibration.errors import CalibrationError


@dataclass
class StereoCamera:
    left: Intrinsics
    right: Intrinsics
    left_to_right: Extrinsics  # p_right = R p_left + T (OpenCV's stereoCalibrate convention)
    rectification: dict[str, np.ndarray] | None = None  # R1, R2, P1, P2, Q

    @property
    def baseline_m(self) -> float:
        return float(np.linalg.norm(self.left_to_right.translation))


def _node(fs: cv2.FileStorage, *names: str) -> np.ndarray | None:
    for name in names:
        node = fs.getNode(name)
        if not node.empty():
            return node.mat() if node.isMap() or node.isSeq() or node.mat() is not None else None
    return None


def _int(fs: cv2.FileStorage, *names: str) -> int | None:
    for name in names:
        node = fs.getNode(name)
        if not node.empty():
            return int(node.real())
    return None


def _open(path: Path) -> cv2.FileStorage:
    if not path.is_file():
        raise CalibrationError(f"calibration file not found: {path}")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except cv2.error as exc:
        raise CalibrationError(f"{path} is not an OpenCV FileStorage file: {str(exc).splitlines()[0]}") from exc
    if not fs.isOpened():
        raise CalibrationError(f"{path} cannot be read as OpenCV FileStorage YAML/XML/JSON")
    return fs


def read_intrinsics(path: str | Path, width: int | None = None, height: int | None = None,
                    which: str = "left") -> Intrinsics:
    path = Path(path)
    if path.suffix.lower() == ".json" and "camera_matrix" not in path.read_text()[:2000]:
        data = json.loads(path.read_text())
        return Intrinsics.from_dict(data[which] if which in data else data)
    fs = _open(path)
    try:
        names = ("camera_matrix", "K", "M1") if which == "left" else ("M2", "camera_matrix_right", "K2")
        k = _node(fs, *names)
        d = _node(fs, *(("distortion_coefficients", "D", "D1") if which == "left" else ("D2",)))
        w = _int(fs, "image_width", "width") or width
        h = _int(fs, "image_height", "height") or height
    finally:
        fs.release()
    if k is None or k.shape != (3, 3):
        raise CalibrationError(f"{path} has no 3x3 camera matrix (camera_matrix, K or M1)")
    if not w or not h:
        raise CalibrationError(f"{path} does not give the image size; pass width and height")
    return Intrinsics.from_matrix(k, int(w), int(h), () if d is None else np.ravel(d))


def write_intrinsics(path: str | Path, intr: Intrinsics, extra: dict | None = None) -> None:
    path = Path(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({**intr.to_dict(), **(extra or {})}, indent=2))
        return
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", intr.width)
    fs.write("image_height", intr.height)
    fs.write("camera_matrix", intr.matrix)
    fs.write("distortion_coefficients", np.asarray(intr.distortion or (0.0,) * 5, dtype=np.float64).reshape(1, -1))
    for key, value in (extra or {}).items():
        fs.write(key, value)
    fs.release()


def read_stereo(path: str | Path, width: int | None = None, height: int | None = None,
                extrinsics_path: str | Path | None = None) -> StereoCamera:
    """A stereo file (ours, or OpenCV's intrinsics.yml + extrinsics.yml pair)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        rect = {k: np.asarray(v) for k, v in data.get("rectification", {}).items()}
        return StereoCamera(Intrinsics.from_dict(data["left"]), Intrinsics.from_dict(data["right"]),
                            Extrinsics(np.asarray(data["R"]), np.asarray(data["T"])), rect or None)
    left = read_intrinsics(path, width, height, "left")
    right = read_intrinsics(path, width or left.width, height or left.height, "right")
    fs = _open(Path(extrinsics_path) if extrinsics_path else path)
    try:
        r, t = _node(fs, "R"), _node(fs, "T")
        rect = {k: _node(fs, k) for k in ("R1", "R2", "P1", "P2", "Q")}
    finally:
        fs.release()
    if r is None or t is None:
        raise CalibrationError(f"{extrinsics_path or path} has no R and T")
    rect = {k: v for k, v in rect.items() if v is not None}
    return StereoCamera(left, right, Extrinsics(r, np.ravel(t)), rect if len(rect) == 5 else None)


def write_stereo(path: str | Path, cam: StereoCamera, extra: dict | None = None) -> None:
    path = Path(path)
    rect = cam.rectification or {}
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({
            "left": cam.left.to_dict(), "right": cam.right.to_dict(), "R": cam.left_to_right.rotation.tolist(),
            "T": cam.left_to_right.translation.tolist(), "rectification": {k: np.asarray(v).tolist()
                                                                            for k, v in rect.items()},
            **(extra or {})}, indent=2))
        return
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", cam.left.width)
    fs.write("image_height", cam.left.height)
    for key, intr in (("1", cam.left), ("2", cam.right)):
        fs.write(f"M{key}", intr.matrix)
        fs.write(f"D{key}", np.asarray(intr.distortion or (0.0,) * 5, dtype=np.float64).reshape(1, -1))
    fs.write("R", cam.left_to_right.rotation)
    fs.write("T", cam.left_to_right.translation.reshape(3, 1))
    for key, value in rect.items():
        fs.write(key, np.asarray(value, dtype=np.float64))
    for key, value in (extra or {}).items():
        fs.write(key, value)
    fs.release()
