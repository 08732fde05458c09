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


def test_unaligned_depth_is_registered_to_colour_or_kept_with_its_calibration(tmp_path):
    from calibration.registration import DepthAligner

    packets = list(synthetic_packets(3))
    ext = Extrinsics(np.eye(3), np.array([0.05, 0.0, 0.0]))
    for p in packets:
        p.depth_to_color = ext
    stats = write_recording(iter(packets), tmp_path / "r.db3")
    with RealSensePlaybackSource(stats.path, align=False) as src:
        raw = list(src)
    assert len(raw) == 3 and not raw[0].depth_aligned
    assert np.allclose(raw[0].depth_to_color.translation, [0.05, 0, 0], atol=1e-6)
    with RealSensePlaybackSource(stats.path) as src:
        aligned = list(src)
    assert aligned[0].depth_aligned and aligned[0].depth_to_color is None
    expected = DepthAligner(raw[0].depth_intrinsics, raw[0].color_intrinsics, ext).align(raw[0].depth, 0.001)
    assert np.array_equal(aligned[0].depth, expected)
    assert not np.array_equal(aligned[0].depth, raw[0].depth)


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
