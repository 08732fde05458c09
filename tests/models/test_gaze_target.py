"""Gaze targets on synthetic depth with exactly known geometry: planes, a nearer obstacle, holes, boxes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from calibration.camera import Intrinsics
from calibration.geometry import project
from models.stages.gaze_target import GazeTargetParams, GazeTargetStage
from models.vision.faces import Faces
from models.vision.gaze_target import box_hit, cast_gaze
from models.vision.persons import Persons
from pipeline.packet import FramePacket
from pipeline.registry import get_stage_type

INTR = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)


def plane_depth(normal, offset: float, intr: Intrinsics = INTR) -> np.ndarray:
    """Depth (metres) of the plane normal . X = offset seen through each pixel centre."""
    u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, float)], axis=-1)
    return (offset / (rays @ np.asarray(normal, float))).astype(np.float32)


def analytic_hit(origin, direction, normal, offset):
    o, d, n = (np.asarray(a, float) for a in (origin, direction, normal))
    d = d / np.linalg.norm(d)
    return o + d * (offset - n @ o) / (n @ d)


def assert_hit(got, expected_3d, intr: Intrinsics = INTR, metres: float = 0.01, pixels: float = 1.0) -> None:
    xyz, px = got
    assert np.linalg.norm(xyz - expected_3d) < metres, (xyz, expected_3d)
    assert np.linalg.norm(px - project(expected_3d[None], intr)[0]) < pixels, (px, expected_3d)


@pytest.mark.parametrize("origin, direction", [
    ((0.0, 0.0, 0.5), (0.0, 0.0, 1.0)),
    ((0.1, -0.05, 1.0), (0.3, 0.1, 1.0)),
    ((-0.4, 0.2, 1.2), (0.5, -0.3, 0.6)),
])
def test_a_ray_meets_a_wall_at_two_metres_where_geometry_says(origin, direction):
    depth = np.full((480, 640), 2.0, np.float32)
    expected = analytic_hit(origin, direction, (0, 0, 1), 2.0)
    assert_hit(cast_gaze(origin, direction, depth, INTR), expected)
    # A flat wall has the same depth in every pixel, so the refined crossing is exact, not just a pixel close.
    assert_hit(cast_gaze(origin, direction, depth, INTR), expected, metres=1e-3, pixels=0.05)


@pytest.mark.parametrize("origin, direction", [
    ((0.0, 0.0, 1.0), (0.1, 0.05, 1.0)),
    ((0.3, -0.1, 0.8), (-0.4, 0.2, 1.0)),
])
def test_a_ray_meets_a_tilted_plane(origin, direction):
    normal, offset = (-0.4, 0.2, 1.0), 2.0  # z = 2 + 0.4 x - 0.2 y
    depth = plane_depth(normal, offset)
    assert_hit(cast_gaze(origin, direction, depth, INTR), analytic_hit(origin, direction, normal, offset))


def test_a_distorted_camera_projects_the_hit_through_its_distortion():
    intr = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0, (-0.2, 0.05, 0.001, -0.001, 0.0))
    depth = np.full((480, 640), 2.0, np.float32)
    origin, direction = (-0.4, 0.2, 1.2), (0.5, -0.3, 0.6)
    assert_hit(cast_gaze(origin, direction, depth, intr), analytic_hit(origin, direction, (0, 0, 1), 2.0), intr)


def test_the_same_on_millimetre_depth_and_with_a_fixed_step():
    normal, offset = (-0.4, 0.2, 1.0), 2.0
    depth = np.rint(plane_depth(normal, offset) * 1000).astype(np.uint16).astype(np.float32) / 1000
    origin, direction = (0.1, 0.1, 1.0), (0.2, -0.2, 1.0)
    expected = analytic_hit(origin, direction, normal, offset)
    assert_hit(cast_gaze(origin, direction, depth, INTR), expected)
    assert_hit(cast_gaze(origin, direction, depth, INTR, step_m=0.05), expected)


def test_rays_that_go_backwards_leave_the_image_or_miss_give_nan():
    depth = np.full((480, 640), 2.0, np.float32)
    for origin, direction in [((0, 0, 0.5), (0, 0, -1)), ((0, 0, 0.5), (0.1, 0.1, -1)),
                              ((0, 0, 1.0), (1, 0, 0)), ((0, 0, 1.0), (0, 0, 1))]:
        max_range = 0.8 if direction == (0, 0, 1) else 10.0  # the last one stops 0.2 m short of the wall
        xyz, px = cast_gaze(origin, direction, depth, INTR, max_range_m=max_range)
        assert np.isnan(xyz).all() and np.isnan(px).all(), (origin, direction, xyz)


def test_a_nearer_box_in_front_of_the_wall_is_hit_not_the_wall():
    depth = np.full((480, 640), 3.0, np.float32)
    # A box whose front face is the rectangle x in [0.2, 0.6], y in [-0.3, 0.3] at z = 1.5.
    (u1, v1), (u2, v2) = project(np.array([[0.2, -0.3, 1.5], [0.6, 0.3, 1.5]]), INTR)
    depth[int(np.ceil(v1)):int(v2) + 1, int(np.ceil(u1)):int(u2) + 1] = 1.5
    origin, direction = (-0.3, 0.0, 0.6), (0.4, 0.05, 0.5)
    expected = analytic_hit(origin, direction, (0, 0, 1), 1.5)
    assert 0.2 < expected[0] < 0.6  # the ray does cross the box's face
    assert_hit(cast_gaze(origin, direction, depth, INTR), expected)
    # Below the box (never seen through it) the same ray direction reaches the wall.
    below = (-0.3, 0.5, 0.6)
    assert_hit(cast_gaze(below, direction, depth, INTR), analytic_hit(below, direction, (0, 0, 1), 3.0))
    # A ray passing behind the box as the camera sees it stops at the box: hidden space counts as occupied.
    xyz, px = cast_gaze((-0.9, 0.0, 0.6), direction, depth, INTR)
    assert xyz[2] == pytest.approx(1.5) and abs(px[0] - np.ceil(u1)) <= 1.0


def test_a_one_pixel_pole_is_not_jumped_over():
    depth = np.full((480, 640), 3.0, np.float32)
    depth[:, 400] = 1.5  # a pole one pixel wide, x = 0.24 m at z = 1.5
    xyz, px = cast_gaze((-0.9, 0.0, 1.55), (1.0, 0.0, -0.03), depth, INTR)  # passes just behind it
    assert xyz[2] == pytest.approx(1.5) and 399.4 < px[0] < 400.6 and px[1] == pytest.approx(240.0)


def test_holes_are_free_space():
    depth = np.full((480, 640), 2.0, np.float32)
    origin, direction = (-0.3, 0.0, 1.0), (0.6, 0.0, 1.0)
    expected = analytic_hit(origin, direction, (0, 0, 1), 2.0)
    u_hit = project(expected[None], INTR)[0, 0]
    depth[:, int(u_hit) - 120:int(u_hit) - 20] = 0  # a band of unknown depth the ray crosses before the wall
    assert_hit(cast_gaze(origin, direction, depth, INTR), expected)
    # A ray along a line of sight stays in one pixel: inside a hole it never hits.
    depth[200:280, 280:360] = 0
    xyz, _ = cast_gaze((0.0, 0.0, 0.5), (0.0, 0.0, 1.0), depth, INTR)
    assert np.isnan(xyz).all()


def test_the_ray_starts_clear_of_the_own_face():
    depth = np.full((480, 640), 2.0, np.float32)
    depth[230:250, 310:330] = 0.98  # the looker's face, just in front of the eyes at z = 1
    origin, direction = (0.0, 0.0, 1.0), (0.5, 0.0, 0.5)
    assert_hit(cast_gaze(origin, direction, depth, INTR), analytic_hit(origin, direction, (0, 0, 1), 2.0))
    xyz, _ = cast_gaze(origin, direction, depth, INTR, min_range_m=0.0)
    assert xyz[2] == pytest.approx(0.98, abs=1e-6)  # starting at the eyes it hits the own face


def test_box_hit_takes_the_smallest_containing_box_and_not_the_looker():
    boxes = np.array([[0, 0, 100, 100], [40, 40, 60, 60], [10, 10, 90, 90], [200, 200, 300, 300]], float)
    ids = np.array([7, 8, 9, -1])
    assert box_hit(np.array([50, 50]), boxes, ids, None) == 8
    assert box_hit(np.array([50, 50]), boxes, ids, 1) == 9
    assert box_hit(np.array([5, 5]), boxes, ids, None) == 7
    assert box_hit(np.array([5, 5]), boxes, ids, 0) == -1
    assert box_hit(np.array([250, 250]), boxes, ids, None) == -1  # untracked box
    assert box_hit(np.array([np.nan, np.nan]), boxes, ids, None) == -1
    assert box_hit(np.array([150, 150]), boxes, ids, None) == -1


def _scene():
    """Person A (track 1) at z = 1 looks at person B (track 2), whose front is a flat patch at z = 1.9 in front
    of a wall at 3 m; person C (track 3) stands elsewhere and looks straight back at the camera."""
    depth = np.full((480, 640), 3000, np.uint16)
    (u1, v1), (u2, v2) = project(np.array([[0.3, -0.4, 1.9], [0.7, 0.4, 1.9]]), INTR)
    b_box = [u1, v1, u2, v2]
    depth[int(np.ceil(v1)):int(v2) + 1, int(np.ceil(u1)):int(u2) + 1] = 1900
    origin_a, look_a = np.array([-0.3, -0.1, 1.0]), np.array([0.5, 0.0, 1.9]) - [-0.3, -0.1, 1.0]
    origin_c = np.array([-0.6, 0.2, 2.5])
    a_box = [*project(origin_a[None] - [0.2, 0.2, 0], INTR)[0], *project(origin_a[None] + [0.2, 0.8, 0], INTR)[0]]
    c_box = [*project(origin_c[None] - [0.2, 0.2, 0], INTR)[0], *project(origin_c[None] + [0.2, 0.8, 0], INTR)[0]]
    gaze = np.array([look_a / np.linalg.norm(look_a), [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
    origins = np.array([origin_a, origin_c, [np.nan] * 3])
    faces = Faces(np.array([True, True, True]), np.array([a_box, c_box, b_box]), np.array([0.9, 0.8, 0.7]),
                  gaze=gaze, gaze_origin_3d=origins)
    persons = Persons(np.array([a_box, c_box, b_box]), np.array([0.9, 0.8, 0.7]), np.array([1, 3, 2]), faces=faces)
    expected_a = analytic_hit(origin_a, look_a, (0, 0, 1), 1.9)
    return depth, persons, expected_a


def test_the_stage_fills_targets_and_the_json_end_to_end():
    assert get_stage_type("gaze_target") is GazeTargetStage
    depth, persons, expected_a = _scene()
    packet = FramePacket(seq=0, timestamp=0, color=np.zeros((480, 640, 3), np.uint8), depth=depth,
                         color_intrinsics=INTR)
    packet.data["persons"] = persons
    out = GazeTargetStage().process(packet)["persons"]
    assert persons.faces.gaze_target_3d is None  # the input was not written into
    f = out.faces
    assert np.linalg.norm(f.gaze_target_3d[0] - expected_a) < 0.01
    assert np.linalg.norm(f.gaze_target_px[0] - project(expected_a[None], INTR)[0]) < 1.0
    assert f.gaze_target_track_id.tolist() == [2, -1, -1]  # C looks at the camera: no target; B has no origin
    assert np.isnan(f.gaze_target_3d[1:]).all()
    rec = out.to_json()
    gaze_a = rec[0]["face"]["gaze"]
    assert gaze_a["target_track_id"] == 2
    np.testing.assert_allclose(gaze_a["target_3d"], expected_a, atol=0.01)
    assert len(gaze_a["target_px"]) == 2
    assert rec[1]["face"]["gaze"]["target_3d"] is None and rec[1]["face"]["gaze"]["target_track_id"] is None
    back = Persons.from_json(rec)
    np.testing.assert_allclose(back.faces.gaze_target_3d[0], f.gaze_target_3d[0], atol=1e-3)


def test_without_depth_the_targets_are_null_and_without_faces_persons_pass_through():
    _, persons, _ = _scene()
    packet = FramePacket(seq=0, timestamp=0, color=np.zeros((480, 640, 3), np.uint8), color_intrinsics=INTR)
    packet.data["persons"] = persons
    out = GazeTargetStage().process(packet)["persons"]
    assert out.faces.gaze_target_3d is not None and np.isnan(out.faces.gaze_target_3d).all()
    assert out.faces.gaze_target_track_id.tolist() == [-1, -1, -1]
    gaze = out.to_json()[0]["face"]["gaze"]
    assert gaze["target_3d"] is None and gaze["target_px"] is None and gaze["target_track_id"] is None
    bare = Persons(persons.boxes, persons.scores, persons.track_ids)
    packet.data["persons"] = bare
    assert GazeTargetStage().process(packet)["persons"] is bare
    packet.data["persons"] = Persons.empty()
    assert len(GazeTargetStage().process(packet)["persons"]) == 0
    packet.data["persons"] = replace(persons, faces=replace(persons.faces, gaze=None))  # head_gaze failed here
    assert np.isnan(GazeTargetStage().process(packet)["persons"].faces.gaze_target_3d).all()


def test_params_are_bounded():
    with pytest.raises(ValueError):
        GazeTargetParams(min_range_m=2.0, max_range_m=1.0)
    with pytest.raises(ValueError):
        GazeTargetParams(tolerance_m=-0.1)
