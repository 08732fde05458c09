"""Camera intrinsics for geometry on footage that carries none (video files, webcams without calibration).

The guess is OpenFace 2.0's: focal length 500 px at 640 px width, scaled with the image width, principal point
at the centre (about a 65 degree horizontal field of view, typical of webcams). Angles from PnP depend on it only
weakly; distances scale with it.
"""
from __future__ import annotations

from calibration.camera import Intrinsics

GUESS_FOCAL_AT_640 = 500.0


def guessed_intrinsics(width: int, height: int) -> Intrinsics:
    f = GUESS_FOCAL_AT_640 * width / 640.0
    return Intrinsics(width, height, f, f, width / 2.0, height / 2.0)


def intrinsics_of(packet) -> tuple[Intrinsics, bool]:
    """The colour camera's intrinsics and whether they are known (False: ``guessed_intrinsics``)."""
    if packet.color_intrinsics is not None:
        return packet.color_intrinsics, True
    return guessed_intrinsics(packet.width, packet.height), False
