"""Face label readers (models/eval/labels_*.py) on tiny fixtures written here in each format, with known angles (the
scoring of `percept eval head-pose` / `gaze`: tests/models/test_face_angles.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from models.eval.label_formats import detect_format, read_labels
from models.vision.faces import angles_of, direction_of, euler_of, rotation_of
from pipeline.errors import PerceptError


def blank(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))


def write_rows(path, rows) -> None:
    path.write_text("\n".join(" ".join(f"{v:.9f}" for v in row) for row in rows) + "\n")


def test_biwi_pose_and_calibration(tmp_path):
    subject = tmp_path / "01"
    blank(subject / "frame_00004_rgb.png")
    head = rotation_of(20.0, -10.0, 5.0)  # in the depth camera
    write_rows(subject / "frame_00004_pose.txt", [*head, [12.0, -30.0, 900.0]])
    extr = rotation_of(3.0, 0.0, 0.0)  # depth -> colour: the colour camera sees the head 3 deg further turned
    k = [[517.0, 0, 320.5], [0, 516.0, 240.5], [0, 0, 1]]
    write_rows(subject / "rgb.cal", [*k, [0.1, -0.2, 0.0, 0.0], *extr, [25.0, 0.0, 0.0]])
    assert detect_format(tmp_path) == "biwi"
    fmt, labels = read_labels(tmp_path)
    assert fmt == "biwi" and len(labels) == 1
    assert labels[0].intrinsics == (517.0, 516.0, 320.5, 240.5)
    assert np.allclose(labels[0].head_rotation, extr @ head)
    assert np.allclose(euler_of(rotation_of(0, 0, 0) @ head), [20, -10, 5], atol=1e-6)


def test_biwi_bad_file_is_one_error(tmp_path):
    blank(tmp_path / "frame_00001_rgb.png")
    (tmp_path / "frame_00001_pose.txt").write_text("1 0 0\n0 one 0\n")
    with pytest.raises(PerceptError, match="not a number"):
        read_labels(tmp_path, "biwi")


@pytest.mark.parametrize("para, expected", [
    ((0.0, 0.3, 0.0), (17.189, 0.0, 0.0)),   # yaw > 0: the person looks to their left = the camera's +x
    ((0.2, 0.0, 0.0), (0.0, -11.459, 0.0)),  # pitch > 0: looking down
    ((0.0, 0.0, 0.1), (0.0, 0.0, -5.730)),   # roll > 0: the head tilts to the person's right = the camera's -x
])
def test_aflw2000_pose_para(tmp_path, para, expected):
    blank(tmp_path / "image00002.jpg")
    savemat(str(tmp_path / "image00002.mat"), {"Pose_Para": np.array([[*para, 100.0, 120.0, 0.0, 0.0015]])})
    fmt, labels = read_labels(tmp_path)
    assert fmt == "aflw2000"
    assert np.allclose(euler_of(labels[0].head_rotation), expected, atol=1e-3)


def test_mpiifacegaze_line(tmp_path):
    subject = tmp_path / "p03"
    blank(subject / "day01" / "0007.jpg")
    (subject / "Calibration").mkdir()
    savemat(str(subject / "Calibration" / "Camera.mat"),
            {"cameraMatrix": np.array([[994.7, 0, 624.0], [0, 995.2, 363.0], [0, 0, 1]])})
    fc, gt = [-20.0, 30.0, 550.0], [-200.0, -20.0, -5.0]  # looking to the camera's -x side and up a little
    landmarks = list(range(12))
    line = ["day01/0007.jpg", *landmarks, 0.1, 0.2, 0.3, 10, 20, 500, *fc, *gt, "left"]
    with_screen = [line[0], 640, 12, *line[1:]]  # the readme's layout has the screen point after the path
    (subject / "p03.txt").write_text(" ".join(str(v) for v in line) + "\n"
                                     + " ".join(str(v) for v in with_screen) + "\n")
    fmt, labels = read_labels(tmp_path)
    assert fmt == "mpiifacegaze" and labels[0].image == subject / "day01" / "0007.jpg" and len(labels) == 2
    assert np.allclose(labels[0].gaze, labels[1].gaze)
    assert labels[0].intrinsics == pytest.approx((994.7, 995.2, 624.0, 363.0))
    d = np.subtract(gt, fc)
    yaw, pitch = angles_of(labels[0].gaze)
    assert yaw == pytest.approx(np.degrees(np.arctan2(d[0], -d[2])))
    assert yaw < -15 and 0 < pitch < 10
    (subject / "p03.txt").write_text("day01/0007.jpg 1 2 3\n")
    with pytest.raises(PerceptError, match="expected 26 or 28 fields"):
        read_labels(tmp_path)


def test_columbia_names(tmp_path):
    blank(tmp_path / "0003" / "0003_2m_-15P_10V_-5H.jpg")
    blank(tmp_path / "0003" / "0003_2m_0P_0V_0H.jpg")
    blank(tmp_path / "0003" / "notes.jpg")
    fmt, labels = read_labels(tmp_path)
    assert fmt == "columbia" and len(labels) == 2
    turned, straight = labels
    assert np.allclose(euler_of(turned.head_rotation), [-15, 0, 0], atol=1e-6)
    assert np.allclose(turned.gaze, rotation_of(-15, 0, 0) @ direction_of(-5, 10))
    assert np.allclose(angles_of(straight.gaze), [0, 0], atol=1e-6)


def xgaze_angles(gaze: np.ndarray) -> tuple[float, float]:
    """(pitch, yaw) radians of a unit gaze vector as ETH-XGaze's normalisation code stores them (face_gaze)."""
    return float(np.arcsin(-gaze[1])), float(np.arctan2(-gaze[0], -gaze[2]))


def write_xgaze(path, patches: np.ndarray, gaze: np.ndarray | None) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["face_patch"] = patches
        if gaze is not None:
            f["face_gaze"] = gaze
            f["face_head_pose"] = np.zeros_like(gaze)


def test_eth_xgaze_convention_inverts_the_datasets_own():
    from models.eval.labels_ethxgaze import ethxgaze_to_percept

    rng = np.random.default_rng(3)
    for g in rng.normal(size=(20, 3)) + [0, 0, -2.0]:  # mostly toward the camera, as gaze labels are
        g /= np.linalg.norm(g)
        assert np.allclose(ethxgaze_to_percept(*xgaze_angles(g)), g, atol=1e-9)
    # signs: the dataset's yaw > 0 is toward the camera's -x, Percept's toward +x; pitch > 0 up in both
    assert np.allclose(angles_of(ethxgaze_to_percept(0.0, np.radians(20))), [-20, 0])
    assert np.allclose(angles_of(ethxgaze_to_percept(np.radians(10), 0.0)), [0, 10])


def test_eth_xgaze_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEPT_CACHE", str(tmp_path / "cache"))
    patches = np.zeros((2, 224, 224, 3), np.uint8)
    patches[0, 50:60, 70:90] = (255, 0, 0)  # BGR blue: the file's channel order reaches the PNG unchanged
    truth = [direction_of(12.0, -5.0), direction_of(0.0, 0.0)]
    write_xgaze(tmp_path / "data" / "train" / "subject0003.h5", patches, np.array([xgaze_angles(g) for g in truth]))
    write_xgaze(tmp_path / "data" / "test" / "subject0001.h5", patches, None)  # test split: labels withheld
    fmt, labels = read_labels(tmp_path / "data")
    assert fmt == "eth-xgaze" and len(labels) == 2
    assert np.allclose(angles_of(labels[0].gaze), [12, -5]) and np.allclose(angles_of(labels[1].gaze), [0, 0])
    assert labels[0].intrinsics == (960.0, 960.0, 112.0, 112.0) and labels[0].head_rotation is None
    assert np.array_equal(cv2.imread(str(labels[0].image)), patches[0])
    assert labels[0].image.is_relative_to(tmp_path / "cache")
    stamp = labels[0].image.stat().st_mtime_ns
    assert read_labels(tmp_path / "data")[1][0].image.stat().st_mtime_ns == stamp  # extracted once


def test_eth_xgaze_without_labels_or_broken_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEPT_CACHE", str(tmp_path / "cache"))
    write_xgaze(tmp_path / "test" / "subject0001.h5", np.zeros((1, 224, 224, 3), np.uint8), None)
    with pytest.raises(PerceptError, match="withheld"):
        read_labels(tmp_path / "test")
    (tmp_path / "broken" / "subject0000.h5").parent.mkdir()
    (tmp_path / "broken" / "subject0000.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(PerceptError, match="not a readable HDF5 file"):
        read_labels(tmp_path / "broken")


def test_unknown_folder_is_one_error(tmp_path):
    with pytest.raises(PerceptError, match="no known face label files"):
        read_labels(tmp_path)
