"""`stereo`: two plain cameras, a side-by-side video, or left/right image folders, plus a stereo calibration:
read and rectify. Each packet carries the rectified left image as ``color``, the rectified right image as
``right`` and the rig's ``baseline_m``, but no depth: the ``stereo_depth`` stage (``pipeline/depth_stages.py``)
computes it.

Spec: ``stereo:CALIB.yaml,left=DIR_OR_GLOB,right=DIR_OR_GLOB[,fps=F]`` | ``stereo:CALIB.yaml,sbs=VIDEO`` |
``stereo:CALIB.yaml,cameras=0+1``. CALIB is what `percept calibrate stereo` writes (or OpenCV's M1/D1/M2/D2/R/T
file). The SGBM search range is the stage's ``num_disparities`` parameter, not a source option.
"""
from __future__ import annotations

import glob
import time
from pathlib import Path

import cv2
import numpy as np

from calibration.camera import Intrinsics
from calibration.errors import CalibrationError
from calibration.io import StereoCamera, read_stereo
from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source
from pipeline.sources.images import IMAGE_SUFFIXES, _natural_key


class _PairReader:
    def open(self) -> None: ...
    def read(self) -> tuple[np.ndarray, np.ndarray, float, str | None] | None: ...  # BGR left, BGR right, t, name
    def close(self) -> None: ...


class _FolderPairs(_PairReader):
    def __init__(self, left: str, right: str, fps: float) -> None:
        self.left_spec, self.right_spec = left, right
        self.fps, self.i = fps, 0

    def open(self) -> None:
        self.left, self.right = self._list(self.left_spec), self._list(self.right_spec)
        if len(self.left) != len(self.right) or not self.left:
            raise SourceError(f"stereo: {len(self.left)} left and {len(self.right)} right images; they must pair up")

    @staticmethod
    def _list(spec: str) -> list[Path]:
        p = Path(spec)
        paths = [q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES] if p.is_dir() else \
            [Path(q) for q in glob.glob(spec)]
        return sorted(paths, key=_natural_key)

    def read(self):
        if self.i >= len(self.left):
            return None
        lp, rp = self.left[self.i], self.right[self.i]
        left, right = cv2.imread(str(lp)), cv2.imread(str(rp))
        if left is None or right is None:
            raise SourceError(f"stereo: cannot read {lp.name if left is None else rp.name}")
        self.i += 1
        return left, right, (self.i - 1) / self.fps, lp.name


class _SideBySide(_PairReader):
    def __init__(self, path: str) -> None:
        from pipeline.sources.video import VideoSource

        self.video = VideoSource(path)

    def open(self) -> None:
        self.video.open()

    def read(self):
        p = self.video.read()
        if p is None:
            return None
        bgr = cv2.cvtColor(p.color, cv2.COLOR_RGB2BGR)
        half = bgr.shape[1] // 2
        return bgr[:, :half], bgr[:, half:2 * half], p.timestamp, p.source_name

    def close(self) -> None:
        self.video.close()


class _TwoCameras(_PairReader):
    def __init__(self, left: int, right: int) -> None:
        self.ids = (left, right)
        self.caps: list[cv2.VideoCapture] = []
        self.t0 = 0.0

    def open(self) -> None:
        for i in self.ids:
            cap = cv2.VideoCapture(i)
            if not cap.isOpened():
                raise SourceError(f"stereo: camera {i} cannot be opened; check `percept devices`")
            self.caps.append(cap)
        self.t0 = time.monotonic()

    def read(self):
        for cap in self.caps:  # grab both first, then decode: the two exposures are as close as OpenCV allows
            cap.grab()
        frames = [cap.retrieve()[1] for cap in self.caps]
        if any(f is None for f in frames):
            raise SourceError("stereo: a camera stopped delivering frames (unplugged?)")
        return frames[0], frames[1], time.monotonic() - self.t0, None

    def close(self) -> None:
        for cap in self.caps:
            cap.release()


class StereoSource(Source):
    """Reads a stereo pair and rectifies it with the calibration's maps; depth is the ``stereo_depth`` stage's."""

    def __init__(self, calibration: str, reader: _PairReader, live: bool = False, name: str = "stereo") -> None:
        self.calibration_path = calibration
        self.reader, self.live, self.name = reader, live, name
        self._seq = 0

    def open(self) -> None:
        try:
            cam = read_stereo(self.calibration_path)
        except CalibrationError as exc:
            raise SourceError(f"stereo calibration: {exc}") from exc
        self._setup_rectification(cam)
        self.reader.open()

    def _setup_rectification(self, cam: StereoCamera) -> None:
        size = (cam.left.width, cam.left.height)
        rect = cam.rectification
        if rect is None:
            r1, r2, p1, p2, q, _, _ = cv2.stereoRectify(cam.left.matrix, np.asarray(cam.left.distortion or [0] * 5),
                                                        cam.right.matrix, np.asarray(cam.right.distortion or [0] * 5),
                                                        size, cam.left_to_right.rotation,
                                                        cam.left_to_right.translation.reshape(3, 1),
                                                        flags=cv2.CALIB_ZERO_DISPARITY,
                                                        alpha=0)
            rect = {"R1": r1, "R2": r2, "P1": p1, "P2": p2, "Q": q}
        dist = lambda i: np.asarray(i.distortion or [0.0] * 5, dtype=np.float64)  # noqa: E731
        self.maps = [cv2.initUndistortRectifyMap(c.matrix, dist(c), rect[r], rect[p], size, cv2.CV_16SC2)
                     for c, r, p in ((cam.left, "R1", "P1"), (cam.right, "R2", "P2"))]
        p1 = np.asarray(rect["P1"])
        self.focal = float(p1[0, 0])
        self.baseline = float(abs(np.asarray(rect["P2"])[0, 3] / np.asarray(rect["P2"])[0, 0])) or cam.baseline_m
        self.intrinsics = Intrinsics(size[0], size[1], p1[0, 0], p1[1, 1], p1[0, 2], p1[1, 2])
        self.size = size

    def read(self) -> FramePacket | None:
        item = self.reader.read()
        if item is None:
            return None
        left, right, ts, name = item
        if (left.shape[1], left.shape[0]) != self.size:
            raise SourceError(f"stereo: images are {left.shape[1]}x{left.shape[0]} but the calibration is for "
                              f"{self.size[0]}x{self.size[1]}")
        if right.shape[:2] != left.shape[:2]:
            raise SourceError(f"stereo: the right image is {right.shape[1]}x{right.shape[0]} but the left is "
                              f"{left.shape[1]}x{left.shape[0]}")
        rl = cv2.remap(left, *self.maps[0], cv2.INTER_LINEAR)
        rr = cv2.remap(right, *self.maps[1], cv2.INTER_LINEAR)
        packet = FramePacket(seq=self._seq, timestamp=ts, color=cv2.cvtColor(rl, cv2.COLOR_BGR2RGB),
                             right=cv2.cvtColor(rr, cv2.COLOR_BGR2RGB), baseline_m=self.baseline,
                             color_intrinsics=self.intrinsics, source_name=name)
        self._seq += 1
        return packet

    def close(self) -> None:
        self.reader.close()


@register_source("stereo")
def _make(spec: SourceSpec) -> StereoSource:
    o = spec.options
    if not spec.target:
        raise SourceError("stereo needs a calibration file: stereo:CALIB.yaml,left=...,right=... | sbs=VIDEO | "
                          "cameras=0+1")
    if "num_disparities" in o:  # it was a source option while the source ran the matcher
        raise SourceError(f"stereo: num_disparities={o['num_disparities']} is a parameter of the stereo_depth stage "
                          f"now, not of the source: set it in the graph (params: {{num_disparities: N}}, a positive "
                          f"multiple of 16)")
    unknown = set(o) - {"left", "right", "fps", "sbs", "cameras"}
    if unknown:
        raise SourceError(f"stereo: unknown option(s) {', '.join(sorted(unknown))}; valid: left, right, fps, sbs, "
                          f"cameras")
    if "sbs" in o:
        return StereoSource(spec.target, _SideBySide(o["sbs"]), name=Path(o["sbs"]).name)
    if "cameras" in o:
        a, _, b = o["cameras"].partition("+")
        return StereoSource(spec.target, _TwoCameras(int(a), int(b or int(a) + 1)), live=True)
    if "left" in o and "right" in o:
        return StereoSource(spec.target, _FolderPairs(o["left"], o["right"], float(o.get("fps", 30))))
    raise SourceError("stereo: give left=...,right=... (folders or globs), sbs=VIDEO or cameras=A+B")
