"""Conversions between pyrealsense2 objects and Percept's camera model (duck-typed: no import needed)."""
from __future__ import annotations

import numpy as np

from calibration.camera import Extrinsics, Intrinsics


def intrinsics_from_rs(i) -> Intrinsics:
    """rs.intrinsics -> Intrinsics. librealsense's Brown-Conrady/inverse models keep their 5 coefficients in OpenCV
    order (k1, k2, p1, p2, k3); models without distortion give none."""
    coeffs = tuple(float(c) for c in i.coeffs) if any(abs(c) > 0 for c in i.coeffs) else ()
    return Intrinsics(int(i.width), int(i.height), float(i.fx), float(i.fy), float(i.ppx), float(i.ppy), coeffs)


def intrinsics_to_rs(intr: Intrinsics, rs):
    out = rs.intrinsics()
    out.width, out.height = intr.width, intr.height
    out.fx, out.fy, out.ppx, out.ppy = intr.fx, intr.fy, intr.cx, intr.cy
    coeffs = list(intr.distortion[:5]) + [0.0] * (5 - len(intr.distortion[:5]))
    out.model = rs.distortion.brown_conrady if any(coeffs) else rs.distortion.none
    out.coeffs = coeffs
    return out


def extrinsics_from_rs(e) -> Extrinsics:
    """rs.extrinsics stores the rotation column-major."""
    return Extrinsics(np.asarray(e.rotation, dtype=float).reshape(3, 3).T, np.asarray(e.translation, dtype=float))


def extrinsics_to_rs(ext: Extrinsics, rs):
    out = rs.extrinsics()
    out.rotation = [float(v) for v in ext.rotation.T.ravel()]
    out.translation = [float(v) for v in ext.translation]
    return out
