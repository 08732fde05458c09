"""One face, one person: two skeletons on one face are one person, and a low-score box in a close-up's head is not a
second person (models/vision/same_face.py, applied at the end of the pose stage)."""
from __future__ import annotations

import numpy as np

from models.vision.keypoints import MEDIAPIPE_POSE_NAMES
from models.vision.same_face import head_geometry, same_face_keep
from tests.models.test_face import read_rgb, stage
from pipeline.packet import FramePacket

NAMES = MEDIAPIPE_POSE_NAMES


def skeleton(nose: tuple[float, float], eye_distance: float, visibility: float = 0.95) -> np.ndarray:
    """A (33,3) pose with a face at ``nose`` (eyes above it, ears beside them); the body points below."""
    kps = np.zeros((len(NAMES), 3), np.float32)
    kps[:, 2] = visibility
    x, y = nose
    half = eye_distance / 2
    place = {"nose": (x, y), "left_eye": (x + half, y - half), "right_eye": (x - half, y - half),
             "left_ear": (x + 2 * half, y - half * 0.8), "right_ear": (x - 2 * half, y - half * 0.8)}
    for j, name in enumerate(NAMES):
        kps[j, :2] = place.get(name, (x, y + 8 * eye_distance))
    return kps


def test_head_geometry_from_keypoints():
    nose, face, head = head_geometry(skeleton((100, 100), 20)[None], NAMES, 0.5)
    assert np.allclose(nose[0], [100, 100])
    assert face[0, 0] < 80 and face[0, 2] > 120 and face[0, 1] < 90 and face[0, 3] > 110  # eyes, ears, mouth
    assert head[0, 2] - head[0, 0] > face[0, 2] - face[0, 0]
    unseen = skeleton((100, 100), 20)
    unseen[NAMES.index("nose"), 2] = 0.1
    assert np.all(np.isnan(head_geometry(unseen[None], NAMES, 0.5)[1]))


def test_two_skeletons_on_one_face_are_one_person():
    kps = np.stack([skeleton((200, 100), 30), skeleton((206, 104), 28), skeleton((500, 100), 30)])
    boxes = np.array([[150, 50, 260, 400], [100, 60, 420, 420], [450, 50, 560, 400]], np.float32)
    keep = same_face_keep(boxes, np.array([0.39, 0.10, 0.5]), kps, NAMES)
    assert keep.tolist() == [0, 2]  # the weaker one with its nose on the first one's face goes; the third stays


def test_a_low_score_box_in_a_close_ups_head_is_not_a_person():
    close_up = skeleton((300, 300), 170)
    fragment = skeleton((180, 110), 10)  # a tiny skeleton in the hair
    boxes = np.array([[60, 0, 640, 640], [40, 10, 330, 320]], np.float32)
    assert same_face_keep(boxes, np.array([0.3, 0.18]), np.stack([close_up, fragment]), NAMES).tolist() == [0]
    # the same box with a good score is someone (e.g. a person leaning in): kept
    assert same_face_keep(boxes, np.array([0.3, 0.6]), np.stack([close_up, fragment]), NAMES).tolist() == [0, 1]


def test_neighbours_stay_two_people_even_under_a_spanning_skeleton():
    """A skeleton spanning two people has a huge face: the smaller faces' noses in it do not merge them."""
    a, b = skeleton((200, 100), 20), skeleton((300, 100), 20)
    spanning = skeleton((250, 110), 100)
    boxes = np.array([[150, 50, 250, 400], [250, 50, 350, 400], [120, 40, 380, 420]], np.float32)
    keep = same_face_keep(boxes, np.array([0.6, 0.55, 0.9]), np.stack([a, b, spanning]), NAMES)
    assert 0 in keep and 1 in keep


def test_a_one_person_close_up_gives_one_person():
    """The person stages of the default graph on real one-person close-ups (one of them used to give a second,
    0.18 person on the hair above the face)."""
    detector, pose = stage("person_detector"), stage("pose")
    for parts in (("300w", "indoor_029.png"), ("300w", "indoor_020.png"), ("aflw", "image22568.jpg")):
        packet = FramePacket(0, 0.0, read_rgb(*parts))
        for s in (detector, pose):
            packet.apply(s.process(packet))
        assert len(packet.get("persons")) == 1, parts
