"""A textured synthetic face at a known head pose, for absolute head-pose and gaze checks.

The face is a real photo's: its 468-point mesh (the mesh model's 3D output on the photo) is the geometry and the
photo is the texture. The mesh is put into its own frontal frame (models/vision/face_frame.py: the plane through
the eye centres and the mouth centre facing the camera), scaled to 63 mm between the eye centres, turned by a
known rotation, placed at a known point in front of a camera with known intrinsics, and rasterised triangle by
triangle (painter's order, back faces culled). Where the truth is known is thus defined by the same rule as the
face model's frame, but from this one face's own shape, not the model's mean shape.

Eyes: optionally each eye opening is repainted as a rendered eyeball (white sphere, 12 mm radius, with a dark
iris disc and pupil) looking in a known direction, ray-cast from the camera; without that, the photo's eyes keep
whatever direction the person looked in.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from calibration.camera import Intrinsics
from models.vision import face_mesh_topology as topo
from models.vision.face_frame import frontal_axes

IPD_M = 0.063
EYEBALL_RADIUS_M = 0.012
IRIS_RADIUS_M = 0.0059  # 11.7 mm across
PUPIL_RADIUS_M = 0.002
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # MediaPipe's face oval, in order


@dataclass(frozen=True)
class FaceShape:
    """One photo's face: vertices (468,3) metres in the frontal frame, texture coordinates (468,2) photo px,
    triangles (T,3), and the photo."""

    vertices: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    photo: np.ndarray

    @classmethod
    def from_mesh(cls, photo: np.ndarray, landmarks: np.ndarray, collar: float = 1.35) -> "FaceShape":
        """``landmarks`` (468,3): the mesh model's output on ``photo`` (x, y px, z in the same pixel scale).

        Around the mesh a collar of vertices (the face oval pushed out by ``collar`` about the face centre and
        back toward the ears) carries the hair, ears and surroundings of the photo, as a real head has them."""
        pts = np.asarray(landmarks, np.float64)
        axes = frontal_axes(pts)
        eyes = np.stack([pts[list(c)].mean(axis=0) for c in topo.EYE_CONTOURS])
        local = (pts - eyes.mean(axis=0)) @ axes.T
        local *= IPD_M / np.linalg.norm((eyes[1] - eyes[0]) @ axes.T)
        oval = list(FACE_OVAL)
        centre, uv_centre = local[oval].mean(axis=0), pts[oval, :2].mean(axis=0)
        ring = centre + collar * (local[oval] - centre)
        ring[:, 2] = local[oval, 2].max() + 0.03  # behind the face's rim, as the sides of a head are
        uv_ring = uv_centre + collar * (pts[oval, :2] - uv_centre)
        vertices, uv = np.concatenate([local, ring]), np.concatenate([pts[:, :2], uv_ring])
        # all triangles, also those the photo shows edge-on: a stretched texture reads as skin, a hole does not
        return cls(vertices, uv, Delaunay(vertices[:, :2]).simplices, photo)

def _signed_area(tri: np.ndarray) -> np.ndarray:
    """(T,3,2) -> (T,) twice the signed areas."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def project(points: np.ndarray, intr: Intrinsics) -> np.ndarray:
    return np.stack([intr.fx * points[:, 0] / points[:, 2] + intr.cx,
                     intr.fy * points[:, 1] / points[:, 2] + intr.cy], axis=1)


def render(face: FaceShape, rotation: np.ndarray, translation: np.ndarray, intr: Intrinsics,
           background: int = 110) -> np.ndarray:
    """The face turned by ``rotation`` (camera-from-face) with its frame origin at ``translation``, RGB uint8."""
    cam = face.vertices @ rotation.T + translation
    dst = project(cam, intr)
    out = np.full((intr.height, intr.width, 3), background, np.uint8)
    tris = face.triangles
    visible = _signed_area(dst[tris]) * _signed_area(face.vertices[tris, :2]) > 0
    tris = tris[visible]
    for tri in tris[np.argsort(-cam[tris, 2].mean(axis=1))]:
        box = cv2.boundingRect(np.rint(dst[tri]).astype(np.int32))
        x, y, w, h = box
        x0, y0 = max(x - 1, 0), max(y - 1, 0)
        x1, y1 = min(x + w + 1, intr.width), min(y + h + 1, intr.height)
        if x1 <= x0 or y1 <= y0:
            continue
        local = (dst[tri] - [x0, y0]).astype(np.float32)
        m = cv2.getAffineTransform(face.uv[tri].astype(np.float32), local)
        patch = cv2.warpAffine(face.photo, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.rint(local * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


def eyeball_centres(face: FaceShape, eye_centre_depth_m: float) -> np.ndarray:
    """(2,3) eyeball centres in the face frame: behind the centres of the eye openings."""
    openings = np.stack([face.vertices[list(c)].mean(axis=0) for c in topo.EYE_CONTOURS])
    return openings + [0.0, 0.0, eye_centre_depth_m]


def paint_eyes(image: np.ndarray, face: FaceShape, rotation: np.ndarray, translation: np.ndarray,
               intr: Intrinsics, gaze_cam: np.ndarray, eye_centre_depth_m: float = 0.0105,
               iris_distance_m: float = 0.0105) -> np.ndarray:
    """``image`` with each eye opening repainted, ray-cast per pixel: a white eyeball (12 mm radius) and a flat
    iris disc (11.7 mm across, pupil 4 mm) ``iris_distance_m`` from the eyeball centre along the unit vector
    ``gaze_cam`` (camera frame), seen through a clear cornea; the disc's rim lies on the sphere (the limbus)."""
    out = image.copy()
    centres = eyeball_centres(face, eye_centre_depth_m) @ rotation.T + translation
    px = project(face.vertices @ rotation.T + translation, intr)
    g = np.asarray(gaze_cam, np.float64) / np.linalg.norm(gaze_cam)
    for contour, centre in zip(topo.EYE_CONTOURS, centres):
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.rint(px[list(contour)] * 16).astype(np.int32)], 1, shift=4)
        ys, xs = np.nonzero(mask)
        rays = np.stack([(xs - intr.cx) / intr.fx, (ys - intr.cy) / intr.fy, np.ones(len(xs))], axis=1)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        uc = rays @ centre
        disc = uc ** 2 - centre @ centre + EYEBALL_RADIUS_M ** 2
        lam = uc - np.sqrt(np.maximum(disc, 0))
        normal = (rays * lam[:, None] - centre) / EYEBALL_RADIUS_M
        shade = np.clip(-np.sum(normal * rays, axis=1), 0.35, 1.0)[:, None]  # darker toward the eye's rim
        colour = np.where((disc > 0)[:, None], np.array([228.0, 222, 216]) * shade, 70.0)
        iris_centre = centre + iris_distance_m * g
        t = (iris_centre @ g) / (rays @ g)  # where each ray meets the iris plane
        r = np.linalg.norm(rays * t[:, None] - iris_centre, axis=1)
        iris = (disc > 0) & (r < IRIS_RADIUS_M)
        colour[iris] = np.array([100.0, 70, 45]) * (0.75 + 0.25 * r[iris, None] / IRIS_RADIUS_M)
        colour[iris & (r < PUPIL_RADIUS_M)] = 18.0
        out[ys, xs] = np.clip(colour, 0, 255).astype(np.uint8)
    return out
