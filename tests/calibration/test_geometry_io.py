"""Camera model maths and calibration files (OpenCV FileStorage and JSON)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.camera import Extrinsics, Intrinsics
from calibration.errors import CalibrationError
from calibration.geometry import deproject, point_cloud, project, undistortion_maps
from calibration.io import StereoCamera, read_intrinsics, read_stereo, write_intrinsics, write_stereo
from tests.conftest import data_path

RATIONAL = (-0.05, 0.08, 0.001, -0.0005, -0.14, 0.01, 0.0, -0.14)


@pytest.mark.parametrize("distortion", [(), (0.1, -0.05, 0.001, 0.002, 0.01), RATIONAL])
def test_project_deproject_round_trip(distortion):
    intr = Intrinsics(640, 480, 520.0, 518.0, 318.0, 244.0, distortion)
    rng = np.random.default_rng(0)
    pts = np.stack([rng.uniform(-0.4, 0.4, 200), rng.uniform(-0.3, 0.3, 200), rng.uniform(0.5, 3, 200)], 1)
    uv = project(pts, intr)
    back = deproject(uv, pts[:, 2], intr)
    np.testing.assert_allclose(back, pts, atol=1e-6)


def test_point_cloud_and_undistortion_maps():
    intr = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    depth = np.full((48, 64), 2000, np.uint16)
    depth[0, 0] = 0
    pts, colors = point_cloud(depth, intr, 0.001, np.zeros((48, 64, 3), np.uint8))
    assert pts.shape == (64 * 48 - 1, 3) and colors.shape == (64 * 48 - 1, 3)
    assert np.allclose(pts[:, 2], 2.0)
    m1, m2, new = undistortion_maps(Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5, (0.1, 0, 0, 0, 0)))
    assert m1.shape[:2] == (48, 64) and new.width == 64


def test_reads_a_file_written_by_opencv_itself(tmp_path):
    path = tmp_path / "cam.yml"
    k = np.array([[600.0, 0, 320], [0, 601.0, 240], [0, 0, 1]])
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", 640)
    fs.write("image_height", 480)
    fs.write("camera_matrix", k)
    fs.write("distortion_coefficients", np.array([[0.1, -0.2, 0.0, 0.0, 0.05]]))
    fs.release()
    intr = read_intrinsics(path)
    assert (intr.fx, intr.fy, intr.cx, intr.width) == (600.0, 601.0, 320.0, 640)
    assert intr.distortion == (0.1, -0.2, 0.0, 0.0, 0.05)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_stereo_round_trip(tmp_path, suffix):
    cam = StereoCamera(Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0, RATIONAL),
                       Intrinsics(640, 480, 505.0, 504.0, 322.0, 238.0, RATIONAL),
                       Extrinsics(cv2.Rodrigues(np.array([0.01, 0.02, 0.0]))[0], np.array([-0.06, 0.001, 0.0])))
    write_stereo(tmp_path / f"s{suffix}", cam)
    back = read_stereo(tmp_path / f"s{suffix}")
    assert back.left == cam.left and back.right == cam.right
    np.testing.assert_allclose(back.left_to_right.rotation, cam.left_to_right.rotation)
    assert back.baseline_m == pytest.approx(cam.baseline_m)
    write_intrinsics(tmp_path / f"i{suffix}", cam.left)
    assert read_intrinsics(tmp_path / f"i{suffix}") == cam.left


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        read_intrinsics(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("%YAML:1.0\nfoo: 1\n")
    with pytest.raises(CalibrationError, match="no 3x3 camera matrix"):
        read_intrinsics(bad)


def test_reads_the_real_opencv_rational_model_files():
    d = data_path("stereo_chessboard")
    cam = read_stereo(d / "intrinsics.yml", 640, 512, d / "extrinsics.yml")
    assert len(cam.left.distortion) == 14 and cam.left.fx == pytest.approx(518.05, abs=0.01)
    assert cam.rectification is not None and set(cam.rectification) == {"R1", "R2", "P1", "P2", "Q"}
