"""RealSense: a recording made here with the software device and recorder, played back with every frame."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb) not installed")

from calibration.camera import Extrinsics  # noqa: E402
from pipeline.devices import list_devices  # noqa: E402
from pipeline.errors import SourceError  # noqa: E402
from pipeline.recording import write_recording  # noqa: E402
from pipeline.sources import open_source  # noqa: E402
from pipeline.sources.realsense import RealSenseLiveSource, RealSensePlaybackSource  # noqa: E402
from pipeline.sources.synthetic import SyntheticSource  # noqa: E402


def synthetic_packets(n, w=160, h=120, scale=None):
    with SyntheticSource(w, h, fps=30, frames=n) as src:
        for p in src:
            if scale:
                p.depth_scale = scale
            yield p


def test_record_and_play_back_every_frame_pixel_exact(tmp_path):
    original = list(synthetic_packets(40))
    stats = write_recording(iter(original), tmp_path / "rec.bag")  # .bag is written as rosbag2 .db3
    assert stats.path.suffix == ".db3" and stats.frames == 40 and stats.with_depth
    with RealSensePlaybackSource(stats.path) as src:
        played = list(src)
    assert len(played) == 40
    assert [p.seq for p in played] == list(range(40))
    for a, b in zip(original, played):
        assert np.array_equal(a.color, b.color)
        assert np.array_equal(a.depth, b.depth)
        assert b.timestamp == pytest.approx(a.timestamp, abs=1e-6)
    first = played[0]
    assert first.depth_scale == pytest.approx(0.001, rel=1e-6)
    assert first.depth_aligned
    assert first.color_intrinsics.fx == pytest.approx(original[0].color_intrinsics.fx, rel=1e-6)
    assert first.color_intrinsics.cx == pytest.approx(original[0].color_intrinsics.cx, rel=1e-6)


def test_spec_path_opens_playback_and_keeps_depth_units(tmp_path):
    stats = write_recording(synthetic_packets(5, scale=0.00025), tmp_path / "r.db3")
    src = open_source(str(stats.path))
    assert isinstance(src, RealSensePlaybackSource)
    with src:
        frames = list(src)
    assert len(frames) == 5 and frames[0].depth_scale == pytest.approx(0.00025, rel=1e-5)


def unaligned_packets(n):
    """Depth as a second camera sees it: a coarser grid (120x90, its own intrinsics) 5 cm beside the colour camera."""
    import cv2

    ext = Extrinsics(np.eye(3), np.array([0.05, 0.0, 0.0]))
    for p in synthetic_packets(n):
        p.depth_intrinsics = p.color_intrinsics.scaled(0.75)
        p.depth = cv2.resize(p.depth, (120, 90), interpolation=cv2.INTER_NEAREST)
        p.depth_aligned, p.depth_to_color = False, ext
        yield p


def test_unaligned_recording_plays_as_recorded_and_register_depth_aligns_it(tmp_path):
    from calibration.registration import DepthAligner
    from pipeline.depth_stages import RegisterDepthStage
    from pipeline.packet import DepthMap
    from pipeline.stage import StageContext

    stats = write_recording(unaligned_packets(3), tmp_path / "r.db3")
    with RealSensePlaybackSource(stats.path) as src:
        raw = list(src)
        assert src.describe()["depth_aligned"] is False
    assert len(raw) == 3
    p = raw[0]
    # the source delivers depth as recorded: in the depth camera, with its calibration
    assert not p.depth_aligned and p.depth.shape == (90, 120)
    assert p.depth_intrinsics.width == 120 and p.depth_intrinsics.fx == pytest.approx(0.75 * p.color_intrinsics.fx)
    assert np.allclose(p.depth_to_color.translation, [0.05, 0, 0], atol=1e-6)

    stage = RegisterDepthStage()
    stage.setup(StageContext(name="register_depth"))
    for q in raw:
        out = stage.process(q)
        assert set(out) == {"depth"} and isinstance(out["depth"], DepthMap)
        expected = DepthAligner(q.depth_intrinsics, q.color_intrinsics, q.depth_to_color).align(q.depth, q.depth_scale)
        assert np.array_equal(out["depth"].depth, expected) and expected.shape == (120, 160)
        assert out["depth"].aligned and out["depth"].intrinsics == q.color_intrinsics
        assert out["depth"].scale == q.depth_scale
        q.apply(out)
        assert q.depth_aligned and q.depth_to_color is None and q.depth_intrinsics == q.color_intrinsics
        assert (q.depth > 0).mean() > 0.9
    assert stage.describe() == {"calibrations": 1}  # one aligner for the recording's one calibration
    assert stage.process(raw[0]) == {}  # already aligned now: nothing to do


def test_register_depth_in_a_graph_and_without_it(tmp_path):
    from tests.calibration.graph_run import DirectRun, build_graph

    stats = write_recording(unaligned_packets(2), tmp_path / "r.db3")
    with_stage = DirectRun(build_graph({"name": "register_depth", "type": "register_depth"},
                                       {"name": "depth_fill", "type": "depth_fill"}))
    without = DirectRun(build_graph({"name": "depth_fill", "type": "depth_fill"}))
    with RealSensePlaybackSource(stats.path) as src:
        a = with_stage(src.read())
        b = without(src.read())
    assert a.depth_aligned and a.depth.shape == a.color.shape[:2] and a.data["depth_valid"] > 0.9
    assert not b.depth_aligned and b.depth.shape == (90, 120) and b.depth_to_color is not None


def test_aligned_recording_passes_through_register_depth(tmp_path):
    from pipeline.depth_stages import RegisterDepthStage

    stats = write_recording(synthetic_packets(2), tmp_path / "r.db3")
    with RealSensePlaybackSource(stats.path) as src:
        frames = list(src)
    assert frames[0].depth_aligned
    assert RegisterDepthStage().process(frames[0]) == {}


def test_corrupt_and_missing_recordings_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.db3"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(SourceError, match="bad.db3"):
        RealSensePlaybackSource(bad).open()
    with pytest.raises(SourceError, match="not found"):
        RealSensePlaybackSource(tmp_path / "none.db3").open()


def test_truncated_recording_still_plays_what_it_holds(tmp_path):
    stats = write_recording(synthetic_packets(30), tmp_path / "r.db3")
    data = stats.path.read_bytes()
    cut = tmp_path / "cut.db3"
    cut.write_bytes(data[: len(data) // 2])
    try:
        with RealSensePlaybackSource(cut) as src:
            frames = list(src)
        assert len(frames) <= 30
    except SourceError as exc:
        assert "cut.db3" in str(exc)


def test_live_source_without_device_is_a_clear_error():
    import pyrealsense2 as rs

    if len(rs.context().query_devices()) > 0:
        pytest.skip("a RealSense device is plugged in")
    with pytest.raises(SourceError, match="no RealSense device found"):
        RealSenseLiveSource().open()


def test_list_devices_does_not_raise():
    assert isinstance(list_devices(), list)


def test_record_cli_then_run_on_recording(tmp_path):
    import json

    from tests.pipeline.test_cli import percept

    rec = tmp_path / "r.db3"
    proc = percept("record", "--source", "synthetic:160x120", "--frames", "12", "--out", str(rec))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "o"
    proc = percept("run", "--source", str(rec), "--graph", "bench", "--headless", "--out", str(out),
                   "--no-progress", "--no-video")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(12))
    assert all(r["depth_valid"] > 0.9 for r in records)
