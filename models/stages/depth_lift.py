"""`depth_lift`: 3D keypoints (metres, colour-camera frame) from depth registered to colour, and a 3D position
per person.

Each keypoint's depth is the median of the valid depth in a small window around it (zeros rejected), so a keypoint
that lands on an edge or a hole still gets the surface it sits on; the confidence says how much of the window was
valid and how consistent it was. The person position follows DepthAI's spatial location for boxes: the median
depth of the central part of the box, deprojected at the box centre. Without depth or intrinsics the stage passes
persons through (3D fields stay empty).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field

from calibration.geometry import deproject
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from models.vision.persons import Persons
from pipeline.stage import Stage, StageParams


class DepthLiftParams(StageParams):
    window: int = Field(default=7, ge=1, le=31, description="odd window side in pixels for the depth median")
    keypoint_threshold: float = Field(default=0.3, ge=0, le=1)
    min_valid: float = Field(default=0.25, ge=0, le=1, description="least share of valid depth in the window")
    box_scale: float = Field(default=0.5, gt=0, le=1, description="central part of the box used for position")
    max_depth_m: float = Field(default=20.0, gt=0)


def window_median_depth(depth_m: np.ndarray, points: np.ndarray, half: int,
                        max_depth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For (N,2) pixel points: median depth (NaN if none), valid share, and relative spread (MAD / median)."""
    h, w = depth_m.shape
    offs = np.arange(-half, half + 1)
    xs = np.rint(points[:, 0]).astype(np.int64)[:, None, None] + offs[None, None, :]
    ys = np.rint(points[:, 1]).astype(np.int64)[:, None, None] + offs[None, :, None]
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    vals = depth_m[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
    vals = np.where(inside & (vals > 0) & (vals < max_depth), vals, np.nan).reshape(len(points), -1)
    valid_share = np.isfinite(vals).mean(axis=1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(vals, axis=1)
            mad = np.nanmedian(np.abs(vals - med[:, None]), axis=1)
    return med, valid_share, np.nan_to_num(mad / np.maximum(med, 1e-6), nan=1.0)


@register_stage
class DepthLiftStage(Stage):
    type_name = "depth_lift"
    inputs = ("persons.keypoints",)
    optional_inputs = ("depth",)
    outputs = ("persons.keypoints_3d",)
    stateless = True
    Params = DepthLiftParams

    def process(self, packet: FramePacket) -> dict[str, Any]:
        persons: Persons = packet.get("persons")
        intr = packet.color_intrinsics
        depth_m = packet.aligned_depth_metres(self.type_name)
        if depth_m is None or intr is None or len(persons) == 0:
            return {"persons": persons}
        p = self.params
        half = p.window // 2
        out: dict[str, Any] = {}
        if persons.keypoints is not None:
            n, k, _ = persons.keypoints.shape
            pts = persons.keypoints[:, :, :2].reshape(-1, 2)
            med, share, spread = window_median_depth(depth_m, pts, half, p.max_depth_m)
            seen = persons.keypoints[:, :, 2].reshape(-1) >= p.keypoint_threshold
            ok = seen & np.isfinite(med) & (share >= p.min_valid)
            xyz = np.full((n * k, 3), np.nan, np.float32)
            if ok.any():
                xyz[ok] = deproject(pts[ok], med[ok], intr)
            conf = np.where(ok, share * np.clip(1.0 - 5.0 * spread, 0.0, 1.0), 0.0)
            out["keypoints_3d"] = xyz.reshape(n, k, 3)
            out["keypoints_3d_conf"] = conf.reshape(n, k).astype(np.float32)
        positions = np.full((len(persons), 3), np.nan, np.float32)
        for i, (x1, y1, x2, y2) in enumerate(persons.boxes):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            hw, hh = (x2 - x1) * p.box_scale / 2, (y2 - y1) * p.box_scale / 2
            ys = slice(max(int(cy - hh), 0), max(int(cy + hh) + 1, 1))
            xs = slice(max(int(cx - hw), 0), max(int(cx + hw) + 1, 1))
            roi = depth_m[ys, xs]
            roi = roi[(roi > 0) & (roi < p.max_depth_m)]
            if roi.size:
                positions[i] = deproject(np.array([[cx, cy]]), np.array([np.median(roi)]), intr)[0]
        out["positions_3d"] = positions
        return {"persons": replace(persons, **out)}
