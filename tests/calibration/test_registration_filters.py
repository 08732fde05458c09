"""Depth-to-colour alignment (z-buffer, no cracks) and the depth post-filters."""
from __future__ import annotations

import numpy as np
import pytest

from calibration.camera import Extrinsics, Intrinsics
from calibration.filters import TemporalFilter, decimate, fill_holes, spatial, threshold
from calibration.registration import DepthAligner, fill_cracks

DEPTH_CAM = Intrinsics(320, 240, 190.0, 190.0, 160.0, 120.0)
COLOR_CAM = Intrinsics(640, 480, 560.0, 560.0, 321.0, 239.0)  # finer sampling: forward mapping leaves cracks
BASELINE = np.array([-0.05, 0.0, 0.0])  # depth -> colour


def scene_depth_m(rays_x, rays_y):
    """A wall at 3 m with a box at 1.2 m in front of it, ray-cast: depth along z for rays (x/z, y/z)."""
    box = (np.abs(rays_x * 1.2 - 0.0) < 0.2) & (np.abs(rays_y * 1.2) < 0.2)
    return np.where(box, 1.2, 3.0)


def render(cam: Intrinsics, origin: np.ndarray) -> np.ndarray:
    """Depth image (metres) of the scene from a camera at ``origin`` (pure translation)."""
    v, u = np.mgrid[0:cam.height, 0:cam.width].astype(np.float64)
    rx, ry = (u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy
    # box plane z=1.2 and wall z=3 in world; the camera at origin sees world point origin + ray * z'
    out = np.full(rx.shape, 3.0)
    for z_plane in (3.0, 1.2):
        zc = z_plane - origin[2]
        x, y = origin[0] + rx * zc, origin[1] + ry * zc
        if z_plane == 1.2:
            hit = (np.abs(x) < 0.2) & (np.abs(y) < 0.2)
            out = np.where(hit, zc, out)
    return out


def test_alignment_matches_a_rendering_from_the_colour_camera_with_occlusions():
    depth_m = render(DEPTH_CAM, np.zeros(3))
    depth = np.round(depth_m * 1000).astype(np.uint16)
    aligner = DepthAligner(DEPTH_CAM, COLOR_CAM, Extrinsics(np.eye(3), BASELINE))
    aligned = aligner.align(depth, 0.001).astype(np.float64) / 1000
    truth = render(COLOR_CAM, -BASELINE)
    valid = aligned > 0
    assert valid.mean() > 0.97  # no cracks from forward mapping the coarser depth image
    close = np.abs(aligned - truth) < 0.02
    assert close[valid].mean() > 0.985
    # z-buffer: where the colour camera sees the box, the wall behind it must never show through
    box = truth < 2
    assert (aligned[box & valid] > 2).mean() < 0.01


def test_identity_alignment_is_a_copy_and_bad_shape_raises():
    d = np.arange(12, dtype=np.uint16).reshape(3, 4)
    cam = Intrinsics(4, 3, 3.0, 3.0, 1.5, 1.0)
    assert np.array_equal(DepthAligner(cam, cam).align(d), d)
    with pytest.raises(ValueError):
        DepthAligner(cam, cam).align(np.zeros((2, 2), np.uint16))


def test_fill_cracks_fills_single_pixel_gaps_only():
    d = np.full((5, 7), 1000, np.uint16)
    d[2, 3] = 0  # a crack
    d[:, 5:6] = 0
    d[1:4, 1:2] = 0
    out = fill_cracks(d)
    assert out[2, 3] == 1000
    wide = np.full((5, 9), 1000, np.uint16)
    wide[:, 3:6] = 0  # a 3-pixel occlusion hole stays a hole
    assert (fill_cracks(wide)[:, 3:6] == 0).all()


def test_decimate_takes_median_of_valid_pixels_and_scales_intrinsics():
    d = np.array([[0, 10, 20, 20], [30, 0, 20, 0]], np.uint16)
    out, intr = decimate(d, 2, Intrinsics(4, 2, 10.0, 10.0, 1.5, 0.5))
    assert out.tolist() == [[20, 20]] and intr.width == 2 and intr.fx == 5.0


def test_threshold_and_hole_filling():
    d = np.array([[100, 0, 0, 300, 5000]], np.uint16)
    assert threshold(d, 0.2, 4.0).tolist() == [[0, 0, 0, 300, 0]]
    assert fill_holes(d, "farthest").tolist() == [[100, 300, 300, 300, 5000]]
    assert fill_holes(d, "nearest").tolist() == [[100, 100, 100, 300, 5000]]


def test_spatial_filter_smooths_noise_but_keeps_edges():
    rng = np.random.default_rng(0)
    clean = np.where(np.arange(64)[None, :] < 32, 1000, 2000).repeat(64, 0).astype(np.float64)
    noisy = np.clip(clean + rng.normal(0, 8, clean.shape), 1, None).astype(np.uint16)
    noisy[10, 10] = 0
    out = spatial(noisy, sigma_depth_m=0.05).astype(np.float64)
    inner = np.s_[20:, 2:30]  # away from the hole at (10, 10)
    assert out[inner].std() < noisy[inner].astype(float).std() * 0.7
    assert abs(out[5, 31] - 1000) < 30 and abs(out[5, 32] - 2000) < 30  # the 1 m step stays sharp
    assert out[10, 10] == 0  # holes stay holes


def test_temporal_filter_averages_static_noise_and_follows_motion():
    rng = np.random.default_rng(1)
    f = TemporalFilter(alpha=0.3)
    frames = [np.clip(1000 + rng.normal(0, 10, (20, 20)), 1, None).astype(np.uint16) for _ in range(30)]
    out = [f(fr) for fr in frames]
    assert out[-1].astype(float).std() < frames[-1].astype(float).std() * 0.7
    moved = np.full((20, 20), 1500, np.uint16)
    assert np.all(f(moved) == 1500)  # a 0.5 m jump resets instead of smearing
