"""Faces, head pose axes and gaze arrows in the overlay: drawn where the geometry says, switched by their layers,
and nothing at all (the same picture as before) for people without a found face."""
from __future__ import annotations

import dataclasses

import numpy as np

from app.overlay import OverlayRenderer, OverlayStyle
from models.vision.faces import Faces, rotation_of
from models.vision.persons import Persons
from pipeline.packet import FramePacket

W, H = 320, 240
FACE_BOX = (120, 60, 200, 140)  # 80 px wide: axes ~48 px, gaze arrows ~120 px
IRIS = ((140, 100), (180, 100))  # the person's right eye is on the image's left


def packet(faces: Faces | None) -> FramePacket:
    p = FramePacket(seq=0, timestamp=0.0, color=np.full((H, W, 3), 60, np.uint8))
    p.data["persons"] = Persons(boxes=[[20, 20, 300, 235]], scores=[0.9], track_ids=[3], faces=faces)
    return p


def faces(**fields) -> Faces:
    return Faces(found=[True], boxes=[FACE_BOX], scores=[0.95], **fields)


def render(faces_: Faces | None, **style) -> np.ndarray:
    return OverlayRenderer(OverlayStyle(**style)).render(packet(faces_))


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).sum(axis=-1) > 30


def yellowish(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., k].astype(int) for k in range(3))
    return (r > 180) & (g > 150) & (b < 100)


GAZE_RIGHT = dict(iris=[IRIS], gaze=[[1.0, 0.0, 0.0]])  # toward the camera's +x: an arrow to the image's right


def test_gaze_arrow_points_along_the_gaze():
    base = render(None)
    drawn = render(faces(**GAZE_RIGHT))
    row = drawn[100]
    assert yellowish(row[205:250]).all()  # along both arrows, right of the irises, inside and past the face box
    assert not changed(drawn[100, 124:138], base[100, 124:138]).any()  # left of the right iris: untouched
    assert not changed(drawn[90:97, 124:200], base[90:97, 124:200]).any()  # nothing above the line either
    off = render(faces(**GAZE_RIGHT), gaze=False)
    assert not yellowish(off[95:106]).any()
    assert np.array_equal(off, render(faces(), gaze=False))  # the face box alone


def test_gaze_toward_the_camera_is_a_dot_and_the_target_is_marked():
    base = render(None)
    drawn = render(faces(iris=[IRIS], gaze=[[0.0, 0.0, -1.0]], gaze_target_px=[[60, 200]]))
    assert yellowish(drawn[100, 139:142]).any() and yellowish(drawn[100, 179:182]).any()
    for gap in (slice(145, 156), slice(164, 176)):  # no arrows (the target line starts between the eyes)
        assert not changed(drawn[100, gap], base[100, gap]).any()
    assert changed(drawn[190:211, 50:71], base[190:211, 50:71]).any()  # the circle at the target
    assert changed(drawn[150, 95:115], base[150, 95:115]).any()  # the line from between the eyes to it


def test_faces_layer_draws_the_face_box_and_the_mesh_only_when_asked():
    base = render(None)
    mesh = np.zeros((1, 468, 3), np.float32)
    mesh[0, :, 0], mesh[0, :, 1] = np.linspace(130, 190, 468), 80.0
    edge = (FACE_BOX[1], slice(130, 190))  # the box's top edge
    on = render(faces(landmarks=mesh))
    assert changed(on[edge], base[edge]).all()
    assert not changed(on[80, 130:190], base[80, 130:190]).any()  # face_mesh is off by default
    with_mesh = render(faces(landmarks=mesh), face_mesh=True)
    assert changed(with_mesh[80, 130:190], base[80, 130:190]).mean() > 0.9
    off = render(faces(landmarks=mesh), faces=False, face_mesh=True)
    assert np.array_equal(off, base)


def test_head_axes_orthographic_and_projected():
    base = render(None)
    nose = (160, 100)  # the face box centre: no landmarks
    square = render(faces(head_rotation=[np.eye(3)]))  # facing the camera: x to the right, y down, forward a dot
    red, green = square[nose[1], 170:200], square[115:140, nose[0]]
    assert ((red[:, 0] > 180) & (red[:, 1] < 120)).all()
    assert ((green[:, 1] > 180) & (green[:, 0] < 120)).all()
    assert not changed(square[nose[1], 122:150], base[nose[1], 122:150]).any()  # nothing toward -x
    # turned 90 degrees toward the camera's +x, 1 m away (projected): forward (blue) goes right
    turned = render(faces(head_rotation=[rotation_of(90.0, 0.0, 0.0)], head_translation=[[0.0, 0.0, 1.0]]))
    blue = turned[nose[1], 170:200]
    assert ((blue[:, 2] > 180) & (blue[:, 0] < 150)).all()
    assert not changed(turned[nose[1], 122:150], base[nose[1], 122:150]).any()
    assert np.array_equal(render(faces(head_rotation=[np.eye(3)]), gaze=False), render(faces(), gaze=False))


def test_not_found_and_no_faces_draw_as_before():
    base = render(None)
    assert not np.array_equal(base, packet(None).color)  # the person is drawn
    hidden = dataclasses.replace(faces(head_rotation=[np.eye(3)], **GAZE_RIGHT), found=np.array([False]))
    assert np.array_equal(render(hidden), base)
    assert np.array_equal(render(Faces.none_found(1)), base)
    assert np.array_equal(render(None, faces=False, gaze=False, face_mesh=True), base)


def test_new_layers_are_listed():
    assert {"faces", "face_mesh", "gaze"} <= set(OverlayStyle.LAYERS)
    assert OverlayStyle().face_mesh is False
