"""Calibration: synthetic boards with known cameras, and the floors on the real stereo / Middlebury data."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calibration.boards import Board, detect
from calibration.calibrate import calibrate_intrinsics, calibrate_stereo, expand_images
from calibration.disparity import DisparityEstimator
from calibration.errors import CalibrationError
from tests.conftest import data_path
from tests.pipeline.test_cli import percept

K_TRUE = np.array([[600.0, 0, 330], [0, 600.0, 235], [0, 0, 1]])


def board_texture(cols=9, rows=6, px=40, margin=40):
    """A chessboard image whose inner corners are (cols x rows), with the 3D->texture homography scale."""
    img = np.full(((rows + 1) * px + 2 * margin, (cols + 1) * px + 2 * margin), 255, np.uint8)
    for r in range(rows + 1):
        for c in range(cols + 1):
            if (r + c) % 2 == 0:
                y, x = margin + r * px, margin + c * px
                img[y:y + px, x:x + px] = 0
    return img, px, margin


def render_view(rvec, tvec, square=0.03, size=(640, 480)):
    tex, px, margin = board_texture()
    # texture pixel (x, y) <-> board point ((x - margin - px) / px * square, (y - margin - px) / px * square)
    corners_tex = np.array([[0, 0], [tex.shape[1], 0], [tex.shape[1], tex.shape[0]], [0, tex.shape[0]]], np.float64)
    obj = np.concatenate([(corners_tex - margin - px) / px * square, np.zeros((4, 1))], 1)
    img_pts, _ = cv2.projectPoints(obj, rvec, tvec, K_TRUE, np.zeros(5))
    h = cv2.getPerspectiveTransform(corners_tex.astype(np.float32), img_pts.reshape(-1, 2).astype(np.float32))
    return cv2.warpPerspective(tex, h, size, flags=cv2.INTER_LINEAR, borderValue=128)


def synthetic_views(tmp_path, n=8):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        rvec = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(-0.2, 0.2)])
        tvec = np.array([rng.uniform(-0.15, 0.0), rng.uniform(-0.1, 0.0), rng.uniform(0.45, 0.7)])
        path = tmp_path / f"view{i:02d}.png"
        cv2.imwrite(str(path), render_view(rvec, tvec))
        paths.append(path)
    return paths


def test_intrinsics_recovered_from_synthetic_views_and_bad_views_skipped(tmp_path):
    paths = synthetic_views(tmp_path)
    cv2.imwrite(str(tmp_path / "zz_blank.png"), np.full((480, 640), 128, np.uint8))
    blurred = cv2.GaussianBlur(cv2.imread(str(paths[0]), 0), (0, 0), 6)
    cv2.imwrite(str(tmp_path / "zz_blurred.png"), blurred)
    report = calibrate_intrinsics(expand_images(str(tmp_path / "*.png")), Board.parse("chessboard:9x6", 0.03))
    intr = report.intrinsics
    assert intr.fx == pytest.approx(600, rel=0.01) and intr.cx == pytest.approx(330, abs=3)
    assert report.rms_px < 0.3 and len(report.per_view) >= 6
    assert "no 9x6 chessboard found" in report.skipped["zz_blank.png"]
    assert report.skipped.get("zz_blurred.png", "").startswith(("blurred", "no 9x6"))
    assert 0 < report.coverage <= 1


def test_board_spec_errors():
    with pytest.raises(CalibrationError, match="chessboard:COLSxROWS"):
        Board.parse("circles:4x11", 0.02)
    with pytest.raises(CalibrationError, match="> 0"):
        Board.parse("chessboard:9x6", 0)
    with pytest.raises(CalibrationError, match="unknown ArUco dictionary 'DICT_9X9_1'"):
        Board.parse("charuco:7x5:DICT_9X9_1", 0.03)


def test_image_globs_pair_in_natural_order(tmp_path):
    for n in (1, 2, 10):
        (tmp_path / f"left{n}.png").write_bytes(b"")
    assert [p.name for p in expand_images(str(tmp_path / "left*.png"))] == ["left1.png", "left2.png", "left10.png"]


def test_stereo_with_an_unknown_model_is_one_line(tmp_path):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.zeros((8, 8), np.uint8))
    proc = percept("calibrate", "stereo", "--left", str(img), "--right", str(img), "--pattern", "chessboard:9x6",
                   "--square", "0.024", "--model", "fisheye", "--out", str(tmp_path / "s.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr


def test_charuco_board_is_detected():
    board = Board.parse("charuco:7x5", 0.04, 0.03)
    img = board.charuco().generateImage((700, 500), marginSize=20)
    det = detect(img, board)
    assert det.found and len(det.image_points) == 6 * 4


def reference_opencv_stereo(paths_l, paths_r):
    """Plain OpenCV: findChessboardCorners + cornerSubPix, calibrateCamera per camera, stereoCalibrate (corner order
    made consistent between the two views, as any stereo calibration must)."""
    obj = np.concatenate([np.mgrid[0:9, 0:6].T.reshape(-1, 2) * 0.024, np.zeros((54, 1))], 1).astype(np.float32)
    objs, ls, rs = [], [], []
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    for pl, pr in zip(paths_l, paths_r):
        gl, gr = cv2.imread(str(pl), 0), cv2.imread(str(pr), 0)
        okl, cl = cv2.findChessboardCorners(gl, (9, 6))
        okr, cr = cv2.findChessboardCorners(gr, (9, 6))
        if okl and okr:
            cl, cr = (c[::-1].copy() if c[0].sum() > c[-1].sum() else c for c in (cl, cr))
            objs.append(obj)
            ls.append(cv2.cornerSubPix(gl, cl, (11, 11), (-1, -1), crit))
            rs.append(cv2.cornerSubPix(gr, cr, (11, 11), (-1, -1), crit))
    size = gl.shape[::-1]
    _, k1, d1, _, _ = cv2.calibrateCamera(objs, ls, size, None, None)
    _, k2, d2, _, _ = cv2.calibrateCamera(objs, rs, size, None, None)
    out = cv2.stereoCalibrate(objs, ls, rs, k1, d1, k2, d2, size, flags=cv2.CALIB_FIX_INTRINSIC)
    return float(np.linalg.norm(out[6]))  # (rms, K1, D1, K2, D2, R, T, E, F)


def test_stereo_floors_on_real_chessboard_pairs():
    d = data_path("stereo_chessboard")
    left, right = expand_images(str(d / "left*.jpg")), expand_images(str(d / "right*.jpg"))
    report = calibrate_stereo(left, right, Board.parse("chessboard:9x6", 0.024)).to_dict()
    assert report["rms_px"] <= 0.25
    assert report["rectified_epipolar_error_px"] <= 0.3
    reference = reference_opencv_stereo(left, right)
    assert report["baseline_m"] == pytest.approx(reference, rel=0.01)
    assert 0.085 < report["baseline_m"] < 0.1  # ~92 mm rig


@pytest.mark.parametrize("scene, floor", [("cones", 10.0), ("teddy", 15.0)])
def test_middlebury_disparity_floors(scene, floor):
    d = data_path("middlebury2003", scene)
    left, right = cv2.imread(str(d / "im2.png")), cv2.imread(str(d / "im6.png"))
    gt = cv2.imread(str(d / "disp2.pgm"), 0).astype(np.float32) / 4
    disp = DisparityEstimator().compute(left, right)
    assert disp.dtype == np.float32 and disp.shape == gt.shape
    known = gt > 0
    bad = ~np.isfinite(disp) | (np.abs(disp - gt) > 2)
    assert bad[known].mean() * 100 <= floor


def test_calibrate_and_disparity_cli(tmp_path):
    d = data_path("stereo_chessboard")
    proc = percept("calibrate", "stereo", "--left", str(d / "left0*.jpg"), "--right", str(d / "right0*.jpg"),
                   "--pattern", "chessboard:9x6", "--square", "0.024", "--out", str(tmp_path / "st.yaml"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"rms_px", "baseline_m", "rectified_epipolar_error_px", "left", "right"} <= set(report)
    assert {"fx", "fy", "cx", "cy"} <= set(report["left"])
    m = data_path("middlebury2003", "cones")
    proc = percept("stereo", "disparity", str(m / "im2.png"), str(m / "im6.png"), "--num-disparities", "64",
                   "--out", str(tmp_path / "d.npy"))
    assert proc.returncode == 0, proc.stderr
    disp = np.load(tmp_path / "d.npy")
    assert disp.dtype == np.float32 and disp.shape == (375, 450)
    proc = percept("calibrate", "intrinsics", "--images", str(tmp_path / "none*.png"), "--square", "0.02",
                   "--out", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2 and "no images match" in proc.stderr and "Traceback" not in proc.stderr
