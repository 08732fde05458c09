"""Face ROI tracking in face_mesh: on a real close-up clip, a tracked face takes one mesh pass after its first
frame, its head pose stays within ~2 degrees of the from-scratch (keypoints + refine pass) result, and it starts
again from the keypoints when the tracked pass's presence drops or the person's box moves away."""
from __future__ import annotations

from dataclasses import replace

import av
import numpy as np
import pytest

from models.stages.face_mesh import FaceTracks, box_iou
from models.vision.faces import euler_of
from pipeline.packet import FramePacket
from pipeline.stage import StreamContext
from tests.conftest import DATA
from tests.models.test_face import stage

CLIP = DATA / "action_clips" / "tests_data_test.avi"  # the fixture skips when it is absent
FRAMES = 12


@pytest.fixture(scope="module")
def people():
    """The clip's first frames through detector, tracker and pose: (image, persons) per frame."""
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} not present")
    det, tracker, pose = stage("person_detector"), stage("tracker"), stage("pose")
    track_state = tracker.open_stream(StreamContext("t"))
    out = []
    with av.open(str(CLIP)) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k >= FRAMES:
                break
            packet = FramePacket(k, k / 25.0, frame.to_ndarray(format="rgb24"))
            packet.apply(det.process(packet))
            packet.apply(tracker.process(packet, track_state))
            packet.apply(pose.process(packet))
            out.append((packet.color, packet.get("persons")))
    return out


@pytest.fixture(scope="module")
def head_gaze():
    return stage("head_gaze")


def run_faces(face, head_gaze, frames, state):
    results = []
    for k, (image, persons) in enumerate(frames):
        packet = FramePacket(k, k / 25.0, image)
        packet.data["persons"] = persons
        packet.apply(face.process(packet, state))
        packet.apply(head_gaze.process(packet))
        results.append(packet.get("persons"))
    return results


def head_angles(persons) -> np.ndarray:
    i = int(np.flatnonzero(persons.faces.found)[0])
    return np.asarray(euler_of(persons.faces.head_rotation[i]))


def test_tracked_face_takes_one_pass_and_keeps_the_head_pose(people, head_gaze):
    tracked_stage, scratch_stage = stage("face_mesh"), stage("face_mesh", track_faces=False)
    assert all(p.track_ids[0] >= 0 for _, p in people[1:]), "the clip's person should be tracked"
    state = tracked_stage.open_stream(StreamContext("a"))
    tracked = run_faces(tracked_stage, head_gaze, people, state)
    scratch = run_faces(scratch_stage, head_gaze, people, scratch_stage.open_stream(StreamContext("b")))
    assert all(p.faces.found.any() for p in tracked) and all(p.faces.found.any() for p in scratch)
    # the first frame from the keypoints, every later one from the previous frame's mesh ROI
    assert state.full_passes == 1 and state.tracked_passes == FRAMES - 1
    diffs = np.array([np.abs(head_angles(t) - head_angles(s)) for t, s in zip(tracked, scratch)])
    assert diffs[0].max() < 1e-6  # the same first frame
    assert np.median(diffs) < 1.0 and diffs.max() < 2.5, diffs
    # only tracks that are still there are kept
    assert set(state.faces) == {int(people[-1][1].track_ids[0])}


def test_tracking_falls_back_when_presence_drops_or_the_box_moves(people, head_gaze):
    face = stage("face_mesh")
    state = face.open_stream(StreamContext("c"))
    run_faces(face, head_gaze, people[:2], state)
    tid = int(people[1][1].track_ids[0])
    assert tid in state.faces and state.tracked_passes == 1
    # presence drops: the remembered ROI points at an empty patch of the image, the tracked pass finds no face
    # there, and the same frame starts again from the keypoints (and finds the face)
    good = state.faces[tid]
    h, w = people[2][0].shape[:2]
    state.faces[tid] = replace(good, roi=replace(good.roi, cx=w - 5.0, cy=h - 5.0, size=8.0))
    before_full = state.full_passes
    persons = run_faces(face, head_gaze, people[2:3], state)[0]
    assert state.full_passes == before_full + 1 and persons.faces.found.any()
    assert tid in state.faces  # tracked again from the face found
    # the box moved away: the remembered ROI is not used at all
    image, moved = people[3]
    far = moved.boxes.copy()
    far[:, [0, 2]] += w  # no overlap with where the person was
    assert box_iou(state.faces[tid].box, far[0]) == 0.0
    tracked_before, full_before = state.tracked_passes, state.full_passes
    run_faces(face, head_gaze, [(image, replace(moved, boxes=far))], state)
    assert state.tracked_passes == tracked_before and state.full_passes >= full_before


def test_tracks_that_go_away_are_forgotten_and_untracked_people_never_tracked(people, head_gaze):
    face = stage("face_mesh")
    state = face.open_stream(StreamContext("d"))
    run_faces(face, head_gaze, people[:2], state)
    assert state.faces
    image, persons = people[2]
    empty = persons[np.zeros(len(persons), bool)]
    run_faces(face, head_gaze, [(image, empty)], state)
    assert state.faces == {}
    untracked = replace(persons, track_ids=np.full(len(persons), -1))
    run_faces(face, head_gaze, [(image, untracked)] * 2, state)
    assert state.faces == {} and state.tracked_passes == 1
    assert isinstance(state, FaceTracks)


def test_a_face_not_found_is_looked_for_again_after_retry_every_frames_one_person_a_frame():
    """The bundled clip's people are small and backlit: their faces are not found. Each is looked for on its first
    frame, then one person per frame at most, after waits that double from retry_every, not on every frame."""
    from models.stages.tracked_pose import TrackedPoseParams, TrackedPoseStage
    from pipeline.stage import StageContext
    from tests.conftest import REPO

    people = TrackedPoseStage(TrackedPoseParams())
    people.setup(StageContext("pose", device="cpu"))
    face = stage("face_mesh", retry_every=5)
    looked: list[int] = []
    searched = face.person_rois

    def counting(image, persons, use_keypoints=True, only=None):
        if use_keypoints:
            looked.append(int(np.sum(only)) if only is not None else len(persons))
        return searched(image, persons, use_keypoints, only)

    face.person_rois = counting
    pose_state, face_state = people.open_stream(StreamContext("p")), face.open_stream(StreamContext("f"))
    found = 0
    with av.open(str(REPO / "assets" / "sample_people" / "people.mp4")) as container:
        for k, frame in zip(range(40), container.decode(video=0)):
            packet = FramePacket(k, k / 30.0, frame.to_ndarray(format="rgb24"))
            packet.apply(people.process(packet, pose_state))
            packet.apply(face.process(packet, face_state))
            found += int(packet.get("persons").faces.found.sum())
    assert found == 0 and len(looked) == 40
    assert max(looked) <= 2 and sum(looked) <= 2 + 2 * 3, looked  # not one search per person per frame
    searched = [k for k, n in enumerate(looked) if n]
    assert len(searched) >= 4, looked  # but looked for again: after 5, then 10, then 20 frames (retry_wait)
    assert face.retry_wait(1) == 5 and face.retry_wait(2) == 10 and face.retry_wait(3) == 20
    assert face.retry_wait(10) == face.params.retry_max


def test_live_faces_are_searched_beside_the_frames_and_then_followed(people, head_gaze):
    """Live (async_search): a tracked person's face is looked for on the worker; the frame that asked does not
    wait for it, and from the first frame after the search the face is followed with one pass per frame."""
    import time

    face = stage("face_mesh")
    state = face.open_stream(StreamContext("live", mode="live"))
    assert state.live
    found = []
    for k, (image, persons) in enumerate(people):
        packet = FramePacket(k, k / 25.0, image)
        packet.data["persons"] = persons
        packet.apply(face.process(packet, state))
        found.append(bool(packet.get("persons").faces.found.any()))
        time.sleep(0.05)  # a 20 fps camera: the search has time to finish between frames
    assert not found[0]  # the first frame did not wait for the search
    assert all(found[3:]), found
    assert state.tracked_passes >= FRAMES - 3
    face.close()
