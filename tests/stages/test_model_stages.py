"""Model stages on real images (skipped without the shared data) and on constructed inputs."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calibration.camera import Intrinsics
from models.stages.depth_lift import DepthLiftStage
from models.stages.person_detector import PersonDetectorParams, PersonDetectorStage, tile_grid
from models.stages.pose import PoseStage
from models.stages.tracker import TrackerStage
from models.tracking.bytetrack import ByteTracker
from models.vision.one_euro import OneEuroFilter
from models.vision.roi import Roi, roi_from_alignment
from pipeline.packet import FramePacket
from models.vision.persons import Persons
from pipeline.stage import StageContext, StreamContext
from tests.conftest import data_path
from tests.pipeline.test_cli import percept


def rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def run_stage(stage, packet):
    packet.data.update(stage.process(packet))
    return packet


def test_detector_and_pose_on_a_real_multi_person_photo():
    img = rgb(data_path("pose", "coco", "000000197388.jpg"))
    det, pose = PersonDetectorStage(), PoseStage()
    det.setup(StageContext("d"))
    pose.setup(StageContext("p"))
    packet = run_stage(pose, run_stage(det, FramePacket(seq=0, timestamp=0, color=img)))
    persons = packet.get("persons")
    assert len(persons) >= 4  # five people, two of them small
    assert persons.keypoints.shape[1:] == (33, 3)
    record = persons.to_json()[0]
    for name in ("nose", "left_eye", "right_shoulder", "left_ankle"):
        assert name in record["keypoints"]
    assert det.describe()["providers"][-1] == "CPUExecutionProvider"


def test_tiling_finds_more_small_people_than_the_whole_frame_alone():
    cap = cv2.VideoCapture(str(data_path("pedestrians", "vtest.avi")))
    ok, frame = cap.read()
    cap.release()
    assert ok
    img = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    counts = {}
    for tiles in ("none", "auto"):
        stage = PersonDetectorStage(PersonDetectorParams(tiles=tiles, score_threshold=0.3))
        stage.setup(StageContext("d"))
        counts[tiles] = len(stage.detect(img)[0])
    assert counts["auto"] > counts["none"] and counts["auto"] >= 10


def test_tile_grid_covers_the_frame():
    wins = tile_grid(1280, 720, "auto", 0.2)
    assert wins[0] == (0, 0, 1280, 720) and len(wins) == 5
    assert len(tile_grid(1280, 720, "fine", 0.2)) == 1 + 5 * 3  # tiles of ~280 px
    assert len(tile_grid(640, 480, "fine", 0.2)) == 1 + 2 and len(tile_grid(590, 400, "fine", 0.2)) == 1
    assert max(w[2] for w in wins[1:]) == 1280 and max(w[3] for w in wins[1:]) == 720


def test_roi_maps_points_back_and_alignment_roi_is_upright_for_standing_people():
    roi = Roi(100, 80, 50, 0.4)
    pts = np.array([[10.0, 20.0], [200.0, 30.0]])
    m = roi.crop_matrix(256)
    in_crop = pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(roi.to_image(in_crop, 256), pts, atol=1e-9)
    standing = roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 100.0]))
    assert standing.rotation == pytest.approx(0.0) and standing.size == pytest.approx(250.0)


@pytest.mark.parametrize("graph, floor", [("default", 0.55), ("pose_accurate", 0.60)])
def test_coco_keypoint_ap_floor_through_percept_run(tmp_path, graph, floor):
    """Measured 0.586 (default: BlazePose full) and 0.653 (pose_accurate: heavy) on the 12 annotated people."""
    folder = data_path("pose", "coco")
    out = tmp_path / "o"
    proc = percept("run", "--graph", graph, "--source", str(folder), "--headless", "--out", str(out),
                   "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    proc = percept("eval", "coco-keypoints", "--results", str(out / "results.jsonl"), "--annotations",
                   str(folder / "test_coco.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    print(result)
    assert result["AP"] >= floor


def test_tracker_keeps_ids_through_motion_and_a_low_score_frame():
    tracker = ByteTracker()
    ids = []
    for t in range(20):
        boxes = np.array([[10 + 3 * t, 10, 50 + 3 * t, 100], [300 - 4 * t, 20, 340 - 4 * t, 120]], float)
        scores = np.array([0.9, 0.9 if t != 10 else 0.2])  # person 2 is half hidden on frame 10
        ids.append(tracker.update(boxes, scores))
    ids = np.array(ids)
    assert len(set(ids[:, 0])) == 1 and len(set(ids[:, 1])) == 1 and ids[0, 0] != ids[0, 1]


def test_tracker_stage_does_not_drop_people():
    stage = TrackerStage()
    stage.setup(StageContext("t"))
    p = FramePacket(seq=0, timestamp=0, color=np.zeros((10, 10, 3), np.uint8))
    p.data["persons"] = Persons(np.array([[0, 0, 5, 5], [1, 1, 4, 4]]), np.array([0.9, 0.05]))
    out = stage.process(p, stage.open_stream(StreamContext("a")))["persons"]
    assert len(out) == 2 and out.track_ids[0] >= 1 and out.track_ids[1] == -1


def test_tracker_state_is_per_stream():
    """Two streams through one tracker stage: each numbers its own tracks from 1, neither sees the other's."""
    stage = TrackerStage()
    stage.setup(StageContext("t"))
    a, b = stage.open_stream(StreamContext("a")), stage.open_stream(StreamContext("b"))

    def frame(boxes):
        p = FramePacket(seq=0, timestamp=0, color=np.zeros((200, 200, 3), np.uint8))
        p.data["persons"] = Persons(np.array(boxes, np.float32), np.full(len(boxes), 0.9))
        return p

    for _ in range(3):
        ids_a = stage.process(frame([[10, 10, 50, 90], [100, 10, 140, 90]]), a)["persons"].track_ids
    ids_b = stage.process(frame([[60, 60, 100, 140]]), b)["persons"].track_ids
    assert sorted(ids_a.tolist()) == [1, 2] and ids_b.tolist() == [1]


def test_depth_lift_on_a_plane_with_a_hole():
    intr = Intrinsics(200, 100, 100.0, 100.0, 100.0, 50.0)
    depth = np.full((100, 200), 2000, np.uint16)
    depth[40:60, 140:160] = 0  # a hole bigger than the window
    kps = np.zeros((1, 3, 3), np.float32)
    kps[0] = [[100, 50, 0.9], [150, 50, 0.9], [20, 80, 0.1]]
    persons = Persons(np.array([[80, 20, 120, 90]]), np.array([0.9]), keypoints=kps,
                      keypoint_names=("nose", "left_wrist", "right_ankle"))
    packet = FramePacket(seq=0, timestamp=0, color=np.zeros((100, 200, 3), np.uint8), depth=depth,
                         color_intrinsics=intr)
    packet.data["persons"] = persons
    out = DepthLiftStage().process(packet)["persons"]
    np.testing.assert_allclose(out.keypoints_3d[0, 0], [0, 0, 2.0], atol=1e-4)
    assert np.isnan(out.keypoints_3d[0, 1]).all() and out.keypoints_3d_conf[0, 1] == 0  # in the hole
    assert np.isnan(out.keypoints_3d[0, 2]).all()  # not visible enough
    assert out.positions_3d[0, 2] == pytest.approx(2.0)
    rec = out.to_json()[0]
    assert rec["keypoints_3d"]["nose"][2] == pytest.approx(2.0) and rec["keypoints_3d"]["left_wrist"] is None
    no_depth = FramePacket(seq=0, timestamp=0, color=np.zeros((100, 200, 3), np.uint8))
    no_depth.data["persons"] = persons
    assert DepthLiftStage().process(no_depth)["persons"].keypoints_3d is None


def test_depth_not_registered_to_colour_is_not_used_and_said_once(caplog, monkeypatch):
    """A source giving depth in its own camera, in a graph without register_depth: no 3D, one warning."""
    persons = Persons(np.array([[80, 20, 120, 90]]), np.array([0.9]), keypoints=np.full((1, 1, 3), 50, np.float32),
                      keypoint_names=("nose",))
    packet = FramePacket(seq=0, timestamp=0, color=np.zeros((100, 200, 3), np.uint8),
                         depth=np.full((100, 200), 2000, np.uint16), depth_aligned=False,
                         color_intrinsics=Intrinsics(200, 100, 100.0, 100.0, 100.0, 50.0))
    packet.data["persons"] = persons
    monkeypatch.setattr("pipeline.packet._UNALIGNED_WARNED", set())
    with caplog.at_level("WARNING"):
        for _ in range(3):
            assert DepthLiftStage().process(packet)["persons"].keypoints_3d is None
    said = [r.getMessage() for r in caplog.records if "not registered to the colour image" in r.getMessage()]
    assert len(said) == 1 and all("add a register_depth stage before depth_lift" in m for m in said)


def test_one_euro_smooths_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.1)
    still = [f(np.array([5.0 + rng.normal(0, 1)]), t / 30) for t in range(90)]
    assert np.std(still[30:]) < 0.5
    g = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    ramp = [g(np.array([10.0 * t / 30]), t / 30)[0] for t in range(60)]
    assert abs(ramp[-1] - 10.0 * 59 / 30) < 1.0


def test_bench_of_the_default_graph_on_real_people_exits_cleanly(tmp_path):
    """Regression: workers still releasing torch tensors while the interpreter exited aborted the process
    ('terminate called without an active exception'); the scheduler now joins its threads."""
    from tests.pipeline.test_cli import percept

    coco = data_path("pose", "coco")
    proc = percept("bench", "--graph", "default", "--source", str(coco), "--frames", "4", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["pipelined"]["frames_done"] == 4 and result["pipelined"]["stages"]["action"]["frames"] == 4
