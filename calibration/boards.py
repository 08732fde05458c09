"""Calibration targets: chessboards and ChArUco boards, detected with sub-pixel corners, or skipped with a reason."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.errors import CalibrationError


@dataclass(frozen=True)
class Board:
    """``kind`` chessboard (cols x rows = inner corners) or charuco (cols x rows = squares)."""

    kind: str
    cols: int
    rows: int
    square: float  # metres
    marker: float | None = None  # ChArUco marker side, metres
    dictionary: str = "DICT_4X4_50"

    @classmethod
    def parse(cls, spec: str, square: float, marker: float | None = None) -> "Board":
        """``chessboard:9x6`` (inner corners) or ``charuco:7x5[:DICT_4X4_50]`` (squares)."""
        parts = spec.split(":")
        if len(parts) < 2 or parts[0] not in ("chessboard", "charuco") or "x" not in parts[1]:
            raise CalibrationError(f"pattern {spec!r} must be chessboard:COLSxROWS or charuco:COLSxROWS[:DICT]")
        try:
            cols, rows = (int(v) for v in parts[1].lower().split("x"))
        except ValueError as exc:
            raise CalibrationError(f"pattern {spec!r}: size must be two integers like 9x6") from exc
        if square <= 0:
            raise CalibrationError("--square must be the square side in metres, > 0")
        if parts[0] == "charuco":
            dictionary = parts[2] if len(parts) > 2 else "DICT_4X4_50"
            if not dictionary.startswith("DICT_") or not hasattr(cv2.aruco, dictionary):
                known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_") and "APRILTAG" not in n)
                raise CalibrationError(f"unknown ArUco dictionary {dictionary!r}; e.g. {', '.join(known[:6])}, ...")
            return cls("charuco", cols, rows, square, marker or square * 0.75, dictionary)
        return cls("chessboard", cols, rows, square)

    def object_points(self) -> np.ndarray:
        """3D corner positions (metres, board plane z = 0), in detection order."""
        if self.kind == "chessboard":
            grid = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2)
        else:
            grid = np.mgrid[1:self.cols, 1:self.rows].T.reshape(-1, 2)
        return np.concatenate([grid * self.square, np.zeros((len(grid), 1))], axis=1).astype(np.float32)

    def charuco(self):
        aruco = cv2.aruco
        dictionary = aruco.getPredefinedDictionary(getattr(aruco, self.dictionary))
        return aruco.CharucoBoard((self.cols, self.rows), self.square, self.marker, dictionary)


@dataclass
class Detection:
    image_points: np.ndarray | None  # (N,2) float32
    object_points: np.ndarray | None  # (N,3) float32
    reason: str = ""  # why it was skipped

    @property
    def found(self) -> bool:
        return self.image_points is not None


def detect(gray: np.ndarray, board: Board, max_blur_px: float = 5.0) -> Detection:
    if board.kind == "charuco":
        return _detect_charuco(gray, board)
    size = (board.cols, board.rows)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(gray, size, flags)
    if not found:
        found, corners = cv2.findChessboardCornersSB(gray, size, cv2.CALIB_CB_EXHAUSTIVE)
        if not found:
            return Detection(None, None, f"no {board.cols}x{board.rows} chessboard found")
    else:
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
        corners = cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), criteria)
    corners = corners.reshape(-1, 2)
    # A chessboard's corner order is ambiguous up to a 180-degree turn; fix it so that the first corner is the one
    # nearer the image's top-left. Without this, two cameras can number the same board differently.
    if corners[0].sum() > corners[-1].sum():
        corners = corners[::-1].copy()
    sharpness = cv2.estimateChessboardSharpness(gray, size, corners.reshape(-1, 1, 2))[0][0]
    if sharpness > max_blur_px:
        return Detection(None, None, f"blurred (edge width {sharpness:.1f} px > {max_blur_px:g})")
    return Detection(corners.reshape(-1, 2).astype(np.float32), board.object_points())


def _detect_charuco(gray: np.ndarray, board: Board) -> Detection:
    detector = cv2.aruco.CharucoDetector(board.charuco())
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or len(ids) < 6:
        return Detection(None, None, f"ChArUco board not found ({0 if ids is None else len(ids)} corners)")
    obj = board.object_points()[ids.ravel()]
    return Detection(corners.reshape(-1, 2).astype(np.float32), obj)
