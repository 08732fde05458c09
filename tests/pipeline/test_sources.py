"""Sources: synthetic determinism, a video round trip, images folders (incl. TUM lists), spec parsing."""
from __future__ import annotations

import numpy as np
import pytest

from app.overlay import OverlayRenderer
from pipeline.errors import SourceError
from pipeline.sinks import VideoSink
from pipeline.sinks.images_folder import ImagesFolderSink
from pipeline.sources import open_source, parse_source_spec
from pipeline.sources.images import ImagesSource
from pipeline.sources.synthetic import SyntheticSource
from pipeline.sources.video import VideoSource
from tests.conftest import data_path


def read_all(source):
    with source:
        return list(source)


def test_synthetic_is_deterministic_with_consistent_depth():
    a = read_all(SyntheticSource(320, 240, fps=60, frames=5))
    b = read_all(SyntheticSource(320, 240, fps=60, frames=5))
    assert len(a) == 5
    for pa, pb in zip(a, b):
        assert np.array_equal(pa.color, pb.color) and np.array_equal(pa.depth, pb.depth)
    assert not np.array_equal(a[0].color, a[4].color)  # it moves
    d = a[0].depth_metres()
    assert 0.3 < d.min() and d.max() <= 3.0 + 1e-3
    assert a[1].timestamp == pytest.approx(1 / 60)
    assert a[0].color_intrinsics.width == 320


def test_video_round_trip(tmp_path):
    frames = read_all(SyntheticSource(320, 240, fps=25, frames=40))
    sink = VideoSink(tmp_path / "v.mp4", OverlayRenderer(), fps=25)
    sink.open({})
    for p in frames:
        sink.write(p)
    sink.close()
    decoded = read_all(VideoSource(tmp_path / "v.mp4"))
    assert len(decoded) == 40
    assert [p.seq for p in decoded] == list(range(40))
    ts = [p.timestamp for p in decoded]
    assert ts == sorted(ts) and ts[1] - ts[0] == pytest.approx(1 / 25, abs=1e-3)
    # H.264 is lossy; the picture must still be close (the overlay's depth inset is drawn in one corner)
    diff = np.abs(decoded[10].color[:150, :200].astype(int) - frames[10].color[:150, :200].astype(int))
    assert diff.mean() < 6


def test_images_folder_round_trip_is_lossless(tmp_path):
    frames = read_all(SyntheticSource(160, 120, frames=6))
    sink = ImagesFolderSink(tmp_path / "rec")
    sink.open({})
    for p in frames:
        sink.write(p)
    sink.close()
    back = read_all(ImagesSource(tmp_path / "rec"))
    assert len(back) == 6
    for a, b in zip(frames, back):
        assert np.array_equal(a.color, b.color) and np.array_equal(a.depth, b.depth)
        assert b.depth_scale == pytest.approx(a.depth_scale)
        assert b.color_intrinsics == a.color_intrinsics
        assert b.source_name.endswith(".png")


def test_images_folder_pairs_by_frame_number_and_checks_depth(tmp_path):
    import cv2

    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    for i in (3, 1, 2):
        cv2.imwrite(str(tmp_path / "rgb" / f"c{i:03d}.png"), np.full((8, 10, 3), i, np.uint8))
        cv2.imwrite(str(tmp_path / "depth" / f"d{i:03d}.png"), np.full((8, 10), 1000 * i, np.uint16))
    (tmp_path / "intrinsics.yaml").write_text("fx: 10\nfy: 10\ncx: 5\ncy: 4\ndepth_scale: 0.0002\n")
    frames = read_all(ImagesSource(tmp_path))
    assert [int(p.depth[0, 0]) for p in frames] == [1000, 2000, 3000]
    assert [int(p.color[0, 0, 0]) for p in frames] == [1, 2, 3]
    assert frames[0].depth_scale == 0.0002 and frames[0].color_intrinsics.fx == 10
    cv2.imwrite(str(tmp_path / "depth" / "d002.png"), np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(SourceError, match="16-bit single-channel"):
        read_all(ImagesSource(tmp_path))


def test_corrupt_image_is_a_clear_source_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="cannot read image .*a.jpg"):
        read_all(ImagesSource(tmp_path))


def test_missing_and_corrupt_video(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        VideoSource(tmp_path / "nope.mp4").open()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="cannot open video"):
        VideoSource(bad).open()


def test_truncated_video_keeps_frames_before_the_damage(tmp_path):
    frames = read_all(SyntheticSource(320, 240, fps=25, frames=50))
    path = tmp_path / "v.mp4"
    sink = VideoSink(path, fps=25)
    sink.open({})
    for p in frames:
        sink.write(p)
    sink.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got = []
    try:
        with VideoSource(path) as src:
            for p in src:
                got.append(p)
    except SourceError as exc:
        assert "corrupt" in str(exc) or "cannot open" in str(exc)
    assert len(got) < 50


def test_spec_parsing():
    assert parse_source_spec("synthetic:320x240,fps=15").options == {"fps": "15"}
    assert parse_source_spec("3").kind == "webcam"
    with pytest.raises(SourceError, match="neither an existing file"):
        parse_source_spec("/no/such/file.mp4")
    with pytest.raises(SourceError, match="unknown source kind|neither"):
        open_source("nosuchkind:abc")


def test_tum_association_list_on_real_realsense_capture():
    folder = data_path("rgbd_office_realsense")
    frames = read_all(ImagesSource(folder))
    assert len(frames) == 40  # the list has 193 entries, 40 are present
    assert frames[0].source_name == "rgb00002.png"
    assert frames[0].depth is not None and frames[0].depth.dtype == np.uint16
    median_m = float(np.median(frames[0].depth_metres()[frames[0].depth > 0]))
    assert 0.5 < median_m < 3.0


def test_images_source_reads_intrinsics_written_by_percept_calibrate(tmp_path):
    """OpenCV FileStorage YAML (what `percept calibrate intrinsics` writes) works as intrinsics=FILE."""
    import cv2

    from calibration.camera import Intrinsics
    from calibration.io import write_intrinsics

    cv2.imwrite(str(tmp_path / "0000.png"), np.zeros((48, 64, 3), np.uint8))
    write_intrinsics(tmp_path / "cam.yaml", Intrinsics(64, 48, 50.0, 51.0, 32.0, 24.0, (0.1, 0, 0, 0, 0)))
    src = ImagesSource(tmp_path, intrinsics=tmp_path / "cam.yaml")
    with src:
        packet = src.read()
    intr = packet.color_intrinsics
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.width) == (50.0, 51.0, 32.0, 24.0, 64)
