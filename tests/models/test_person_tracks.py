"""The per-stream state of followed people: when the detector is due, how lost people get their ids back, the
box a followed person gets from its keypoints, and which detector boxes are somebody already followed."""
from __future__ import annotations

import numpy as np

from models.vision.person_tracks import FollowedPerson, PersonTracks, keypoint_box, not_followed
from models.vision.roi import Roi


def person(tid: int, box) -> FollowedPerson:
    return FollowedPerson(tid, Roi(0, 0, 10), 0.9, np.array(box, np.float32))


def test_detector_is_due_first_then_on_the_schedule_and_after_a_loss():
    t = PersonTracks()
    assert t.detection_due(10, 0.5, 0.0)  # first frame
    t.detected(0.0)
    t.update([person(1, [0, 0, 10, 20])], max_missed=30)
    due = []
    for k in range(1, 25):
        d = t.detection_due(10, 0.0, k / 30)
        due.append(d)
        if d:
            t.detected(k / 30)
        t.update([person(1, [k, 0, 10 + k, 20])], max_missed=30)
    assert [k + 1 for k, d in enumerate(due) if d] == [10, 20]
    # by time: 0.5 s of stream time passes before 100 frames do
    assert t.detection_due(100, 0.5, 20 / 30 + 0.51) and not t.detection_due(100, 0.5, 20 / 30 + 0.4)
    t.update([], max_missed=30)  # person 1 is lost: look again at once
    assert t.detection_due(100, 0.0, 1.0)


def test_an_empty_scene_is_searched_on_the_schedule_not_every_frame():
    t = PersonTracks()
    t.detected(0.0)
    t.update([], max_missed=30)
    due = []
    for k in range(1, 3):
        due.append(t.detection_due(3, 0.0, k))
        t.update([], 30)
    assert due == [False, False] and t.detection_due(3, 0.0, 3.0)


def test_a_lost_person_found_again_where_it_was_heading_gets_its_id_back():
    t = PersonTracks()
    ids = t.assign_ids(np.array([[0, 0, 50, 100], [200, 0, 250, 100]], np.float32), 30, 0.3)
    assert ids.tolist() == [1, 2]
    t.update([person(1, [0, 0, 50, 100]), person(2, [200, 0, 250, 100])], 30)
    t.update([person(1, [10, 0, 60, 100]), person(2, [200, 0, 250, 100])], 30)  # 1 walks right, 10 px a frame
    t.update([person(2, [200, 0, 250, 100])], 30)  # 1 is lost
    t.update([person(2, [200, 0, 250, 100])], 30)
    # found again two frames on, 20-30 px further right: id 1; a stranger elsewhere: a fresh id
    ids = t.assign_ids(np.array([[400, 0, 450, 100], [38, 0, 88, 100]], np.float32), 30, 0.3)
    assert ids.tolist() == [3, 1]
    assert not t.lost


def test_lost_people_are_forgotten_after_max_missed_frames():
    t = PersonTracks()
    t.assign_ids(np.array([[0, 0, 50, 100]], np.float32), 2, 0.3)
    t.update([person(1, [0, 0, 50, 100])], 2)
    for _ in range(3):
        t.update([], 2)
    assert t.assign_ids(np.array([[0, 0, 50, 100]], np.float32), 2, 0.3).tolist() == [2]


def test_keypoint_box_covers_the_seen_keypoints_with_room_for_the_head_and_stays_in_the_image():
    kps = np.array([[100, 50, 0.9], [120, 250, 0.9], [80, 150, 0.9], [500, 500, 0.1]], np.float32)
    box = keypoint_box(kps, (640, 360))
    assert box[0] < 80 and box[2] > 120 and box[1] < 50 - 0.1 * 200 and box[3] > 250
    assert box[2] < 200 and box[3] < 300  # the unseen keypoint at (500, 500) does not count
    edge = keypoint_box(np.array([[2, 2, 1], [630, 350, 1]], np.float32), (640, 360))
    assert edge.tolist() == [0, 0, 640, 360]


def test_boxes_on_a_followed_person_are_that_person_others_are_new():
    followed = np.array([[100, 0, 200, 300]], np.float32)
    detections = np.array([[105, 5, 195, 290],  # the same body
                           [120, 150, 190, 300],  # its legs: inside it
                           [400, 0, 480, 300]], np.float32)  # somebody else
    assert not_followed(detections, followed).tolist() == [2]
    assert not_followed(detections, np.zeros((0, 4), np.float32)).tolist() == [0, 1, 2]


def test_searches_that_find_nobody_new_space_out_while_people_are_followed():
    t = PersonTracks()
    t.detected(0.0)
    t.update([person(1, [0, 0, 10, 20])], 30)
    t.searched(False, 3.0)
    t.searched(False, 3.0)
    assert t.backoff == 3.0  # doubled, capped
    for _ in range(20):
        t.update([person(1, [0, 0, 10, 20])], 30)
    assert not t.detection_due(10, 0.0, 1.0)  # 21 frames since: not yet (10 x 3)
    for _ in range(10):
        t.update([person(1, [0, 0, 10, 20])], 30)
    assert t.detection_due(10, 0.0, 1.0)
    t.searched(True, 3.0)  # somebody new: back to the base schedule
    assert t.backoff == 1.0
    t.searched(False, 3.0)
    t.update([], 30)  # a loss resets it too, and an empty scene is searched on the base schedule
    assert t.backoff == 1.0 and t.detection_due(10, 0.0, 1.0)
