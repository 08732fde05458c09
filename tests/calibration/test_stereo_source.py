"""The `stereo` source: image pairs or a side-by-side video + calibration -> rectified colour + metric depth."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from calibration.camera import Extrinsics, Intrinsics
from calibration.io import StereoCamera, write_stereo
from pipeline.errors import SourceError
from pipeline.sources import open_source
from tests.conftest import data_path
from tests.pipeline.test_cli import percept

F, B = 400.0, 0.1  # a made-up rectified rig for Middlebury's already rectified pair


def rectified_rig(tmp_path, w=450, h=375):
    cam = Intrinsics(w, h, F, F, w / 2, h / 2)
    write_stereo(tmp_path / "rig.yaml", StereoCamera(cam, cam, Extrinsics(np.eye(3), np.array([-B, 0, 0]))))
    return tmp_path / "rig.yaml"


def test_image_pairs_give_metric_depth_registered_to_left(tmp_path):
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
    assert p.depth.dtype == np.uint16 and p.depth.shape == p.color.shape[:2]
    assert p.color_intrinsics.fx == pytest.approx(F)
    gt = cv2.imread(str(m / "disp2.pgm"), 0).astype(np.float32) / 4
    known = (gt > 0) & (p.depth > 0)
    expected_mm = F * B / gt[known] * 1000
    rel = np.abs(p.depth[known] - expected_mm) / expected_mm
    assert np.median(rel) < 0.05 and (p.depth > 0).mean() > 0.95


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
    proc = percept("run", "--source", f"stereo:{rig},sbs={tmp_path / 'sbs.avi'}", "--graph", "bench", "--headless",
                   "--out", str(out), "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 3 and records[0]["width"] == 450 and records[0]["depth_valid"] > 0.9


def test_stereo_source_errors(tmp_path):
    with pytest.raises(SourceError, match="calibration file"):
        open_source("stereo")
    src = open_source(f"stereo:{tmp_path / 'missing.yaml'},left={tmp_path},right={tmp_path}")
    with pytest.raises(SourceError):
        src.open()
    with pytest.raises(SourceError, match="multiple of 16"):
        open_source(f"stereo:{tmp_path / 'c.yaml'},left={tmp_path},right={tmp_path},num_disparities=50")
    with pytest.raises(SourceError, match="unknown option.*lefft"):
        open_source(f"stereo:{tmp_path / 'c.yaml'},lefft={tmp_path},right={tmp_path}")
