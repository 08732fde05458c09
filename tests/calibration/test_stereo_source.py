"""The `stereo` source (image pairs or a side-by-side video + calibration -> rectified left/right, no depth) and the
`stereo_depth` stage that turns the rectified pair into metric depth registered to the left image."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calibration.camera import Extrinsics, Intrinsics
from calibration.disparity import DisparityEstimator, DisparityParams, disparity_to_depth
from calibration.io import StereoCamera, read_stereo, write_stereo
from pipeline.depth_stages import StereoDepthStage
from pipeline.errors import SourceError
from pipeline.sources import open_source
from pipeline.stage import StageContext
from tests.conftest import data_path
from tests.pipeline.test_cli import percept

F, B = 400.0, 0.1  # a made-up rectified rig for Middlebury's already rectified pair


def rectified_rig(tmp_path, w=450, h=375):
    cam = Intrinsics(w, h, F, F, w / 2, h / 2)
    write_stereo(tmp_path / "rig.yaml", StereoCamera(cam, cam, Extrinsics(np.eye(3), np.array([-B, 0, 0]))))
    return tmp_path / "rig.yaml"


def stereo_stage(**params) -> StereoDepthStage:
    stage = StereoDepthStage(StereoDepthStage.Params(**params))
    stage.setup(StageContext(name="stereo_depth"))
    return stage


def old_source_depth(left_bgr, right_bgr, focal, baseline, num_disparities=64) -> np.ndarray:
    """What `StereoSource.read` computed on the camera thread before matching became a stage."""
    disp = DisparityEstimator(DisparityParams(num_disparities=num_disparities)).compute(left_bgr, right_bgr)
    depth_m = disparity_to_depth(disp, focal, baseline)
    return np.nan_to_num(np.clip(depth_m * 1000.0, 0, 65535), nan=0).astype(np.uint16)


def test_image_pairs_give_a_rectified_pair_and_the_stage_gives_metric_depth(tmp_path):
    m = data_path("middlebury2003", "cones")
    (tmp_path / "L").mkdir()
    (tmp_path / "R").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "L" / f"{i}.png"), cv2.imread(str(m / "im2.png")))
        cv2.imwrite(str(tmp_path / "R" / f"{i}.png"), cv2.imread(str(m / "im6.png")))
    src = open_source(f"stereo:{rectified_rig(tmp_path)},left={tmp_path / 'L'},right={tmp_path / 'R'}")
    with src:
        frames = list(src)
    assert len(frames) == 2
    p = frames[0]
    assert p.depth is None and not p.has("depth")  # the source only reads and rectifies
    assert p.has("right") and p.right.shape == p.color.shape and p.right.dtype == np.uint8
    assert p.baseline_m == pytest.approx(B) and p.color_intrinsics.fx == pytest.approx(F)
    assert p.source_name == "0.png"

    out = stereo_stage().process(p)
    p.apply(out)
    assert p.depth.dtype == np.uint16 and p.depth.shape == p.color.shape[:2]
    assert p.depth_aligned and p.depth_scale == 0.001 and p.depth_intrinsics == p.color_intrinsics
    gt = cv2.imread(str(m / "disp2.pgm"), 0).astype(np.float32) / 4
    known = (gt > 0) & (p.depth > 0)
    expected_mm = F * B / gt[known] * 1000
    rel = np.abs(p.depth[known] - expected_mm) / expected_mm
    assert np.median(rel) < 0.05 and (p.depth > 0).mean() > 0.95


def merged_chessboard_rig(tmp_path):
    """The real rig's OpenCV intrinsics.yml + extrinsics.yml (rational model, its own R1/P1/R2/P2) in one file,
    with T in metres (the files are in millimetres, the board's unit)."""
    d = data_path("stereo_chessboard")
    cam = read_stereo(d / "intrinsics.yml", 640, 512, d / "extrinsics.yml")
    rect = {k: np.array(v, dtype=np.float64) for k, v in cam.rectification.items()}
    rect["P2"][:, 3] /= 1000.0
    rect["Q"][3, 2] *= 1000.0
    ext = Extrinsics(cam.left_to_right.rotation, cam.left_to_right.translation / 1000.0)
    write_stereo(tmp_path / "rig.yaml", StereoCamera(cam.left, cam.right, ext, rect))
    return d, tmp_path / "rig.yaml", cam, rect


def test_real_rig_stage_gives_the_depth_the_source_used_to_give(tmp_path):
    d, rig, cam, rect = merged_chessboard_rig(tmp_path)
    names = ["01", "20"]
    src = open_source(f"stereo:{rig},left={d}/left[02][01].jpg,right={d}/right[02][01].jpg")
    with src:
        frames = list(src)
    by_name = {p.source_name: p for p in frames}
    assert {f"left{n}.jpg" for n in names} <= set(by_name)

    # the rectification the source applied, recomputed here as the old source did it
    dist = lambda i: np.asarray(i.distortion, dtype=np.float64)  # noqa: E731
    maps = [cv2.initUndistortRectifyMap(c.matrix, dist(c), rect[r], rect[p], (640, 512), cv2.CV_16SC2)
            for c, r, p in ((cam.left, "R1", "P1"), (cam.right, "R2", "P2"))]
    focal = float(rect["P1"][0, 0])
    baseline = abs(float(rect["P2"][0, 3] / rect["P2"][0, 0]))
    stage = stereo_stage(num_disparities=64)
    for n in names:
        p = by_name[f"left{n}.jpg"]
        assert p.depth is None and p.baseline_m == pytest.approx(baseline) and 0.085 < baseline < 0.1
        assert p.color_intrinsics.fx == pytest.approx(focal) and p.color_intrinsics.distortion == ()
        left = cv2.remap(cv2.imread(str(d / f"left{n}.jpg")), *maps[0], cv2.INTER_LINEAR)
        right = cv2.remap(cv2.imread(str(d / f"right{n}.jpg")), *maps[1], cv2.INTER_LINEAR)
        assert np.array_equal(p.color, cv2.cvtColor(left, cv2.COLOR_BGR2RGB))
        assert np.array_equal(p.right, cv2.cvtColor(right, cv2.COLOR_BGR2RGB))
        depth = stage.process(p)["depth"]
        expected = old_source_depth(left, right, focal, baseline)
        assert np.array_equal(depth.depth, expected)
        assert depth.aligned and depth.intrinsics == p.color_intrinsics
        assert (expected > 0).mean() > 0.5  # real depth, not an empty map that would trivially match


def test_stage_parameters_reach_the_matcher_and_workers_share_nothing():
    m = data_path("middlebury2003", "teddy")
    from pipeline.packet import FramePacket

    left, right = cv2.imread(str(m / "im2.png")), cv2.imread(str(m / "im6.png"))
    intr = Intrinsics(450, 375, F, F, 225, 187.5)
    packet = FramePacket(0, 0.0, cv2.cvtColor(left, cv2.COLOR_BGR2RGB), right=cv2.cvtColor(right, cv2.COLOR_BGR2RGB),
                         baseline_m=B, color_intrinsics=intr)
    stage = stereo_stage(num_disparities=32, fill=False)
    expected = DisparityEstimator(DisparityParams(num_disparities=32, fill=False)).compute(left, right)
    expected_mm = np.nan_to_num(np.clip(disparity_to_depth(expected, F, B) * 1000.0, 0, 65535), nan=0)
    first = stage.process(packet)["depth"].depth
    assert np.array_equal(first, expected_mm.astype(np.uint16))
    assert not np.array_equal(first, old_source_depth(left, right, F, B))  # the parameters changed the result

    from concurrent.futures import ThreadPoolExecutor

    assert StereoDepthStage.stateless
    with ThreadPoolExecutor(4) as pool:  # several workers of one stateless stage at once
        results = list(pool.map(lambda _: stage.process(packet)["depth"].depth, range(8)))
    assert all(np.array_equal(r, first) for r in results)


def test_stage_passes_frames_without_a_right_image_and_rejects_an_incomplete_pair():
    from pipeline.packet import FramePacket

    color = np.zeros((32, 48, 3), np.uint8)
    depth = np.full((32, 48), 1500, np.uint16)
    stage = stereo_stage()
    assert stage.process(FramePacket(0, 0.0, color)) == {}
    assert stage.process(FramePacket(0, 0.0, color, depth=depth)) == {}
    with pytest.raises(ValueError, match="baseline_m"):
        stage.process(FramePacket(0, 0.0, color, right=color.copy(),
                                  color_intrinsics=Intrinsics(48, 32, 40, 40, 24, 16)))
    with pytest.raises(ValueError, match="intrinsics"):
        stage.process(FramePacket(0, 0.0, color, right=color.copy(), baseline_m=0.1))


def test_stage_parameters_are_validated_in_the_graph():
    from app.command_setup import load_builtin_stages
    from pipeline.errors import ConfigError
    from pipeline.graph import Graph, parse_graph_config

    load_builtin_stages()
    with pytest.raises(ConfigError, match=r"stereo_depth.*multiple of 16.*valid parameters: num_disparities"):
        Graph.from_config(parse_graph_config({"stages": [
            {"name": "stereo_depth", "type": "stereo_depth", "params": {"num_disparities": 50}}]}))
    with pytest.raises(ConfigError, match="odd"):
        Graph.from_config(parse_graph_config({"stages": [
            {"name": "s", "type": "stereo_depth", "params": {"block_size": 4}}]}))
    with pytest.raises(ConfigError, match="unknown key 'num_disparity'"):
        Graph.from_config(parse_graph_config({"stages": [
            {"name": "s", "type": "stereo_depth", "params": {"num_disparity": 64}}]}))


def test_side_by_side_video_through_the_cli(tmp_path):
    m = data_path("middlebury2003", "teddy")
    sbs = np.concatenate([cv2.imread(str(m / "im2.png")), cv2.imread(str(m / "im6.png"))], axis=1)
    sbs = sbs[:374]  # even height: MJPG (4:2:0) stores even sizes
    writer = cv2.VideoWriter(str(tmp_path / "sbs.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, sbs.shape[1::-1])
    for _ in range(3):
        writer.write(sbs)
    writer.release()
    rig = rectified_rig(tmp_path, 450, 374)
    out = tmp_path / "o"
    # the bench graph starts with stereo_depth, so depth_fill sees the stage's depth
    proc = percept("run", "--source", f"stereo:{rig},sbs={tmp_path / 'sbs.avi'}", "--graph", "bench", "--headless",
                   "--out", str(out), "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 3 and records[0]["width"] == 450 and records[0]["depth_valid"] > 0.9
    assert "stereo_depth" in records[0]["latency_ms"] and records[0]["errors"] == []


def test_stereo_source_errors(tmp_path):
    with pytest.raises(SourceError, match="calibration file"):
        open_source("stereo")
    src = open_source(f"stereo:{tmp_path / 'missing.yaml'},left={tmp_path},right={tmp_path}")
    with pytest.raises(SourceError):
        src.open()
    # the SGBM range moved to the stereo_depth stage: the old option says where it went
    with pytest.raises(SourceError, match="num_disparities.*stereo_depth stage.*multiple of 16"):
        open_source(f"stereo:{tmp_path / 'c.yaml'},left={tmp_path},right={tmp_path},num_disparities=50")
    with pytest.raises(SourceError, match="stereo_depth stage"):
        open_source(f"stereo:{tmp_path / 'c.yaml'},left={tmp_path},right={tmp_path},num_disparities=64")
    with pytest.raises(SourceError, match="unknown option.*lefft"):
        open_source(f"stereo:{tmp_path / 'c.yaml'},lefft={tmp_path},right={tmp_path}")


def test_stereo_source_size_errors(tmp_path):
    rig = rectified_rig(tmp_path, 64, 48)
    for side, size in (("L", (64, 48)), ("R", (64, 48))):
        (tmp_path / side).mkdir()
        cv2.imwrite(str(tmp_path / side / "0.png"), np.zeros((size[1], size[0], 3), np.uint8))
    cv2.imwrite(str(tmp_path / "L" / "1.png"), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "R" / "1.png"), np.zeros((48, 64, 3), np.uint8))
    with open_source(f"stereo:{rig},left={tmp_path / 'L'},right={tmp_path / 'R'}") as src:
        assert src.read().right.shape == (48, 64, 3)
        with pytest.raises(SourceError, match="images are 60x40 but the calibration is for 64x48"):
            src.read()
    (tmp_path / "R" / "1.png").unlink()
    cv2.imwrite(str(tmp_path / "L" / "1.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "R" / "1.png"), np.zeros((40, 60, 3), np.uint8))
    with open_source(f"stereo:{rig},left={tmp_path / 'L'},right={tmp_path / 'R'}") as src:
        src.read()
        with pytest.raises(SourceError, match="right image is 60x40 but the left is 64x48"):
            src.read()
    (tmp_path / "R" / "1.png").unlink()
    with pytest.raises(SourceError, match="2 left and 1 right"):
        open_source(f"stereo:{rig},left={tmp_path / 'L'},right={tmp_path / 'R'}").open()
