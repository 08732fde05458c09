"""Faces, head pose and gaze: on real faces (../shared/data/pose face-landmark sets) against their annotated
landmarks, and through properties any correct estimator has (mirroring negates yaw and roll, an in-plane turn is
pure roll, a face re-rendered at a known yaw is read at that yaw, opposite turns give opposite signs)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from models.stages import load_builtin_stages
from models.vision import face_mesh_topology as topo
from models.vision.blazeface import SPECS, anchors
from models.vision.camera_guess import guessed_intrinsics
from models.vision.eye_gaze import eye_gaze
from models.vision.faces import Faces, angles_of, direction_of, euler_of, rotation_of
from models.vision.head_pose import FaceModel, solve_head_pose
from models.vision.persons import Persons
from models.registry import resolve_model
from pipeline.packet import FramePacket
from pipeline.registry import get_stage_type
from pipeline.stage import StageContext
from tests.conftest import data_path

# 300W 68-point indices -> face mesh indices (eye corners, nose tip, mouth corners, chin)
W300_TO_MESH = {36: 33, 39: 133, 42: 362, 45: 263, 30: 1, 48: 61, 54: 291, 8: 152}
FACE_IMAGES = (("300w", "indoor_020.png"), ("300w", "indoor_029.png"), ("aflw", "image04476.jpg"),
               ("aflw", "image22568.jpg"), ("cofw", "001766.jpg"), ("cofw", "001805.jpg"))


def stage(kind: str, **params):
    load_builtin_stages()
    cls = get_stage_type(kind)
    s = cls(cls.Params(**params))
    s.setup(StageContext(kind, device="cpu"))
    return s


@pytest.fixture(scope="module")
def face_stages():
    return stage("face_mesh"), stage("head_gaze")


def read_rgb(*parts: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(data_path("pose", *parts))), cv2.COLOR_BGR2RGB)


def faces_of(image: np.ndarray, stages, persons: Persons | None = None) -> Persons:
    packet = FramePacket(0, 0.0, image)
    if persons is not None:
        packet.data["persons"] = persons
    for s in stages:
        packet.apply(s.process(packet))
    return packet.get("persons")


def biggest(persons: Persons) -> int:
    f = persons.faces
    areas = np.where(f.found, (f.boxes[:, 2] - f.boxes[:, 0]) * (f.boxes[:, 3] - f.boxes[:, 1]), -1)
    assert f.found.any(), "no face found"
    return int(np.argmax(areas))


# ----- conventions and the result type --------------------------------------------------------------------------
def test_angle_conventions():
    assert np.allclose(angles_of(np.array([0, 0, -1.0])), [0, 0])
    yaw, pitch = angles_of(np.array([0.5, 0, -1.0]))
    assert yaw > 20 and abs(pitch) < 1e-9  # toward +x
    yaw, pitch = angles_of(np.array([0, -0.5, -1.0]))
    assert pitch > 20 and abs(yaw) < 1e-9  # up is -y
    for y, p, r in [(30, 10, 5), (-50, -20, 40), (120, 60, -80)]:
        rot = rotation_of(y, p, r)
        assert np.allclose(rot @ rot.T, np.eye(3)) and np.isclose(np.linalg.det(rot), 1)
        assert np.allclose(euler_of(rot), [y, p, r])
        assert np.allclose(angles_of(-rot[:, 2]), [y, p])  # head yaw/pitch are those of the face's forward axis
        assert np.allclose(direction_of(y, p), -rot[:, 2])


def test_faces_json_round_trip_and_validation():
    rot = rotation_of(20, -5, 3)
    faces = Faces(np.array([True, False]), [[1, 2, 30, 40], [np.nan] * 4], [0.9, np.nan],
                  head_rotation=[rot, np.full((3, 3), np.nan)], head_translation=[[0.1, 0, 0.6], [np.nan] * 3],
                  gaze=[direction_of(10, 5), [np.nan] * 3], gaze_origin_3d=[[0.1, 0, 0.6], [np.nan] * 3],
                  gaze_target_3d=[[0.5, 0.1, 2.0], [np.nan] * 3], gaze_target_px=[[300, 200], [np.nan] * 2],
                  gaze_target_track_id=[7, -1], origin_source=[3, 0])
    persons = Persons(np.array([[0, 0, 50, 100], [60, 0, 110, 100]]), [0.9, 0.8], faces=faces)
    rows = json.loads(json.dumps(persons.to_json()))
    face = rows[0]["face"]
    assert rows[1]["face"] is None
    assert face["head_pose"]["yaw"] == pytest.approx(20, abs=0.01) and face["head_pose"]["roll"] == pytest.approx(3, abs=0.01)
    assert face["gaze"]["yaw"] == pytest.approx(10, abs=0.01) and face["gaze"]["pitch"] == pytest.approx(5, abs=0.01)
    assert face["gaze"]["target_track_id"] == 7 and face["gaze"]["origin_source"] == "depth"
    back = Persons.from_json(rows).faces
    assert back.found.tolist() == [True, False]
    assert np.allclose(back.head_rotation[0], rot, atol=1e-4) and np.allclose(back.gaze_target_3d[0], [0.5, 0.1, 2.0])
    assert back.row_json(0) == face
    with pytest.raises(ValueError, match="faces has 1 rows"):
        Persons(np.zeros((2, 4)), np.ones(2), faces=Faces.none_found(1))
    with pytest.raises(ValueError, match="head_rotation"):
        Faces(np.array([True]), [[0, 0, 1, 1]], [1.0], head_rotation=np.eye(3)[None, :2])
    with pytest.raises(ValueError, match=r"persons\[0\].face"):
        Persons.from_json([{"bbox": [0, 0, 1, 1], "score": 1, "face": {"score": 1}}])


def test_face_detector_anchor_grids_match_the_models():
    assert len(anchors(SPECS["face_detection_short_range"])) == 896
    assert len(anchors(SPECS["face_detection_full_range"])) == 2304


# ----- geometry without models ----------------------------------------------------------------------------------
def test_pnp_recovers_known_head_poses_of_the_face_model():
    model = FaceModel.load(resolve_model("face_model_468"))
    intr = guessed_intrinsics(640, 480)
    for yaw, pitch, roll in [(0, 0, 0), (35, -10, 5), (-50, 20, -15), (10, 30, 25)]:
        rot = rotation_of(yaw, pitch, roll)
        t = np.array([0.05, -0.03, 0.7])
        cam = model.points @ rot.T + t
        px = np.stack([intr.fx * cam[:, 0] / cam[:, 2] + intr.cx, intr.fy * cam[:, 1] / cam[:, 2] + intr.cy], 1)
        r, tt = solve_head_pose(px, model, intr)
        assert np.allclose(euler_of(r), [yaw, pitch, roll], atol=0.05) and np.allclose(tt, t, atol=1e-4)


def test_eyeball_gaze_geometry():
    intr = guessed_intrinsics(640, 480)
    centre = np.array([[0.03, 0.0, 0.6]])
    for direction in (-centre[0] / np.linalg.norm(centre[0]), direction_of(25, -10), direction_of(-30, 15)):
        iris = centre[0] + 0.0105 * direction
        px = np.array([[intr.fx * iris[0] / iris[2] + intr.cx, intr.fy * iris[1] / iris[2] + intr.cy]])
        assert np.allclose(eye_gaze(px, centre, intr)[0], direction, atol=1e-6)


# ----- real faces -------------------------------------------------------------------------------------------------
def test_mesh_matches_annotated_300w_landmarks(face_stages):
    """Eye corners, nose tip, mouth corners and chin against 300W's annotations: error normalised by the outer
    eye-corner distance (the 300W NME convention)."""
    ann = json.loads(data_path("pose", "300w", "test_300w.json").read_text())
    files = {im["id"]: im["file_name"] for im in ann["images"]}
    errors = []
    for a in ann["annotations"]:
        gt = np.array(a["keypoints"], np.float64).reshape(68, 3)[:, :2]
        persons = faces_of(read_rgb("300w", files[a["image_id"]]), face_stages[:1])
        lm = persons.faces.landmarks[biggest(persons), :, :2]
        iod = np.linalg.norm(gt[36] - gt[45])
        errors += [np.linalg.norm(lm[m] - gt[w]) / iod for w, m in W300_TO_MESH.items()]
    assert len(errors) == 16 and np.mean(errors) < 0.08, np.round(errors, 3)


def test_irises_lie_inside_their_eyes(face_stages):
    for parts in FACE_IMAGES:
        persons = faces_of(read_rgb(*parts), face_stages)
        i = biggest(persons)
        f = persons.faces
        for e, contour in enumerate(topo.EYE_CONTOURS):
            eye = f.landmarks[i, list(contour), :2]
            lo, hi = eye.min(axis=0), eye.max(axis=0)
            assert np.all(f.iris[i, e] >= lo - 1) and np.all(f.iris[i, e] <= hi + 1), parts
        width = np.linalg.norm(f.landmarks[i, 33, :2] - f.landmarks[i, 133, :2])
        assert 0.25 * width < f.iris_diameter_px[i].max() < 0.8 * width, parts  # an iris is ~40% of the eye width


def test_mirroring_negates_yaw_and_roll_and_keeps_pitch(face_stages):
    for parts in FACE_IMAGES:
        image = read_rgb(*parts)
        a, b = (faces_of(im, face_stages) for im in (image, np.ascontiguousarray(image[:, ::-1])))
        fa, fb = a.faces, b.faces
        ya, pa, ra = euler_of(fa.head_rotation[biggest(a)])
        yb, pb, rb = euler_of(fb.head_rotation[biggest(b)])
        # the mesh is the mean of the crop's and its mirror's (mirror_average), so what is left is the ROI
        assert abs(ya + yb) < 3 and abs(pa - pb) < 3 and abs(ra + rb) < 3, (parts, (ya, pa, ra), (yb, pb, rb))
        ga, gb = angles_of(fa.gaze[biggest(a)]), angles_of(fb.gaze[biggest(b)])
        assert abs(ga[0] + gb[0]) < 15 and abs(ga[1] - gb[1]) < 15, (parts, ga, gb)  # gaze rests on a few iris px


def test_in_plane_rotation_is_roll(face_stages):
    """Turning the image about its centre (the principal point of the guessed intrinsics) is rolling the camera
    about its optical axis: the head rotation is pre-multiplied by that roll. (Yaw and pitch alone are not kept:
    for a head pitched by p, a camera roll of a moves about p sin(a) of it into yaw.)"""
    image = read_rgb("300w", "indoor_020.png")
    h, w = image.shape[:2]
    base = faces_of(image, face_stages)
    r0 = base.faces.head_rotation[biggest(base)].astype(np.float64)
    for angle in (-20, 20):  # OpenCV: positive = counter-clockwise in the image, about -z of the camera (y down)
        turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h))
        persons = faces_of(turned, face_stages)
        r = persons.faces.head_rotation[biggest(persons)].astype(np.float64)
        c, s = np.cos(np.radians(-angle)), np.sin(np.radians(-angle))
        expected = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ r0
        off = np.degrees(np.arccos(np.clip((np.trace(expected.T @ r) - 1) / 2, -1, 1)))
        assert off < 3, (angle, off, euler_of(r), euler_of(expected))
        assert abs((euler_of(r)[2] - euler_of(r0)[2]) + angle) < 3  # roll falls by the angle


def render_turned(image: np.ndarray, persons: Persons, i: int, model: FaceModel, turn: np.ndarray) -> np.ndarray:
    """The face re-rendered with its head turned by ``turn`` about the head centre: each mesh point gets the depth
    of the fitted face model, the mesh triangles are warped from the image (far ones first, back faces skipped)."""
    from scipy.spatial import Delaunay

    intr = guessed_intrinsics(image.shape[1], image.shape[0])
    f = persons.faces
    rot, t = solve_head_pose(f.landmarks[i, :, :2], model, intr)
    z = (model.points @ rot.T + t)[:, 2]
    px = f.landmarks[i, :, :2].astype(np.float64)
    xyz = np.stack([(px[:, 0] - intr.cx) / intr.fx * z, (px[:, 1] - intr.cy) / intr.fy * z, z], axis=1)
    centre = t + rot @ np.array([0, 0, 0.08])  # about the middle of the head
    moved = (xyz - centre) @ turn.T + centre
    dst = np.stack([intr.fx * moved[:, 0] / moved[:, 2] + intr.cx, intr.fy * moved[:, 1] / moved[:, 2] + intr.cy], 1)
    out = image.copy()
    x1, y1, x2, y2 = f.boxes[i]
    pad = 0.3 * (x2 - x1)
    cv2.rectangle(out, (int(x1 - pad), int(y1 - pad)), (int(x2 + pad), int(y2 + pad)), (90, 90, 90), -1)
    tris = Delaunay(px).simplices
    def signed_area(p: np.ndarray) -> float:
        return float((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[1, 1] - p[0, 1]) * (p[2, 0] - p[0, 0]))

    for tri in tris[np.argsort(-moved[tris, 2].mean(axis=1))]:
        if signed_area(px[tri]) * signed_area(dst[tri]) <= 0:
            continue  # turned away from the camera
        m = cv2.getAffineTransform(px[tri].astype(np.float32), dst[tri].astype(np.float32))
        warped = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR)
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.rint(dst[tri]).astype(np.int32), 1)
        out[mask > 0] = warped[mask > 0]
    return out


def test_a_face_rendered_at_a_known_turn_is_read_at_that_turn(face_stages):
    image = read_rgb("300w", "indoor_020.png")
    model = FaceModel.load(resolve_model("face_model_468"))
    base = faces_of(image, face_stages)
    i = biggest(base)
    y0, p0, _ = euler_of(base.faces.head_rotation[i])
    for turn_yaw, turn_pitch in ((-20, 0), (20, 0), (0, 15), (0, -15)):
        rendered = render_turned(image, base, i, model, rotation_of(turn_yaw, turn_pitch, 0))
        persons = faces_of(rendered, face_stages)
        y, p, _ = euler_of(persons.faces.head_rotation[biggest(persons)])
        assert abs((y - y0) - turn_yaw) < 6 and abs((p - p0) - turn_pitch) < 6, (turn_yaw, turn_pitch, y - y0, p - p0)


def test_faces_turned_left_and_right_have_opposite_yaw(face_stages):
    left = faces_of(read_rgb("300wlp", "AFW_134212_1_0.jpg"), face_stages)  # nose toward the image's left
    right = faces_of(read_rgb("300wlp", "AFW_134212_2_0.jpg"), face_stages)  # slightly toward the right
    assert euler_of(left.faces.head_rotation[biggest(left)])[0] < -8
    assert euler_of(right.faces.head_rotation[biggest(right)])[0] > 4


def test_faces_are_tied_to_pose_keypoints_of_tracked_people():
    """On COCO photos through the person detector and pose: faces come from the head keypoints, so every face
    found sits inside its own person's box, and the persons keep their rows."""
    from models.vision.persons import Persons as P

    det, pose, face = stage("person_detector"), stage("pose"), stage("face_mesh")
    image = read_rgb("coco", "000000197388.jpg")
    persons = faces_of(image, (det, pose, face))
    f = persons.faces
    assert isinstance(persons, P) and len(f) == len(persons) and f.found.sum() >= 3
    for i in np.flatnonzero(f.found):
        x1, y1, x2, y2 = persons.boxes[i]
        cx, cy = (f.boxes[i, 0] + f.boxes[i, 2]) / 2, (f.boxes[i, 1] + f.boxes[i, 3]) / 2
        assert x1 <= cx <= x2 and y1 <= cy <= y2
