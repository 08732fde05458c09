"""Camera models, calibration, stereo depth and depth registration (numpy + OpenCV only).

This package depends on no other Percept package, so that it can be used on its own.
"""
from calibration.camera import Extrinsics, Intrinsics

__all__ = ["Extrinsics", "Intrinsics"]
