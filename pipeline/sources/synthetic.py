"""A deterministic moving RGB-D scene of any size and rate, for tests, benchmarks and demos without a camera.

Frame k is a pure function of k: a textured back wall at 3 m, a floor plane, and three objects (a box, a ball,
a pole) moving at different depths, with depth consistent with the colour image and the intrinsics.
"""
from __future__ import annotations

import numpy as np

from calibration.camera import Intrinsics
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source
from pipeline.sources.pacing import Pacer


class SyntheticSource(Source):
    live = False

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, frames: int | None = 300,
                 realtime: bool = False) -> None:
        if width < 16 or height < 16:
            raise ValueError("synthetic frames must be at least 16x16")
        self.width, self.height, self.fps = width, height, fps
        self.frame_count = frames
        self.realtime = realtime
        self.live = realtime
        self.paced = realtime
        self._pacer = Pacer(fps)
        self.name = f"synthetic {width}x{height}@{fps:g}"
        f = 0.9 * width
        self.intrinsics = Intrinsics(width, height, f, f, (width - 1) / 2, (height - 1) / 2)
        self._k = 0
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self._xx, self._yy = xx, yy
        # static background: a wall with a checker texture; a floor below the horizon
        checker = (((xx // 32) + (yy // 32)) % 2).astype(np.float32)
        wall = np.stack([90 + 40 * checker, 110 + 30 * checker, 140 + 20 * checker], axis=-1)
        horizon = 0.6 * height
        floor_rows = yy > horizon
        cam_h = 1.2  # camera height above the floor, metres
        with np.errstate(divide="ignore"):
            floor_depth = np.where(floor_rows, cam_h * f / np.maximum(yy - horizon, 1e-3), np.inf)
        depth = np.minimum(np.full_like(xx, 3.0), floor_depth)
        floor = np.stack([120 - 0 * xx, 100 + 0 * xx, 80 + 0 * xx], axis=-1)
        self._bg_color = np.where((depth < 3.0)[..., None], floor, wall)
        self._bg_depth = depth

    def open(self) -> None:
        self._k = 0
        self._pacer.reset()

    def render(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Colour (RGB uint8) and depth (metres, float32) of frame k."""
        t = k / self.fps
        w, h = self.width, self.height
        color = self._bg_color.copy()
        depth = self._bg_depth.copy()
        xx, yy = self._xx, self._yy
        objects = [  # (kind, centre x, centre y, half size px, depth m, rgb)
            ("box", w * (0.5 + 0.3 * np.sin(0.7 * t)), h * 0.45, 0.08 * h, 2.0 + 0.5 * np.sin(0.3 * t), (200, 60, 50)),
            ("ball", w * (0.3 + 0.2 * np.cos(1.1 * t)), h * (0.5 + 0.15 * np.sin(1.7 * t)), 0.1 * h, 1.5, (60, 180, 80)),
            ("pole", w * ((0.1 * t) % 1.0), h * 0.5, 0.03 * w, 2.5, (230, 210, 60)),
        ]
        for kind, cx, cy, r, z, rgb in objects:
            if kind == "box":
                mask = (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r)
                zmap = np.full_like(xx, z)
            elif kind == "ball":
                d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r)
                mask = d2 < 1.0
                zmap = z - 0.1 * np.sqrt(np.clip(1.0 - d2, 0, 1))
            else:
                mask = np.abs(xx - cx) < r
                zmap = np.full_like(xx, z)
            mask &= zmap < depth
            depth[mask] = zmap[mask]
            shade = 0.75 + 0.25 * np.sin(xx * 0.05 + yy * 0.03)
            color[mask] = np.asarray(rgb, np.float32) * shade[mask, None]
        return np.clip(color, 0, 255).astype(np.uint8), depth

    def read(self) -> FramePacket | None:
        k = self._k
        if self.frame_count is not None and k >= self.frame_count:
            return None
        if self.realtime:
            self._pacer.wait(k / self.fps)
        color, depth_m = self.render(k)
        depth = np.clip(depth_m * 1000.0, 0, 65535).astype(np.uint16)
        self._k += 1
        return FramePacket(seq=k, timestamp=k / self.fps, color=color, depth=depth, depth_scale=0.001,
                           color_intrinsics=self.intrinsics, depth_intrinsics=self.intrinsics,
                           source_name=None)


def _parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


@register_source("synthetic")
def _make(spec: SourceSpec) -> SyntheticSource:
    width, height = _parse_size(spec.target) if spec.target else (640, 480)
    opts = spec.options
    frames = opts.get("frames", "300")
    return SyntheticSource(
        width=int(opts.get("width", width)), height=int(opts.get("height", height)),
        fps=float(opts.get("fps", 30)), frames=None if frames in ("0", "inf", "none") else int(frames),
        realtime=opts.get("realtime", "0").lower() in ("1", "true", "yes"),
    )
