"""Turns a result packet into what the views show, on the session's result thread (never the UI thread).

The UI thread then only paints a ready QImage or hands ready arrays to pyqtgraph, so a slow overlay or a big
frame costs frames shown, never responsiveness. The overlays are drawn by ``app.overlay.OverlayRenderer``, the
same renderer as annotated.mp4, so what users see live and in files is the same drawing.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from PyQt6.QtGui import QImage

from app.overlay import OverlayRenderer, OverlayStyle, color_for
from models.vision.keypoints import COCO17_EDGES
from models.vision.persons import Persons
from pipeline.packet import FramePacket

MAX_CLOUD_POINTS = 30_000
MAX_DEPTH_M = 10.0


@dataclass
class PersonRow:
    """One line of the people panel."""

    track_id: int
    distance_m: float | None
    action: str | None
    action_score: float | None
    scores: list[tuple[str, float]]  # the top action classes, best first
    color: tuple[int, int, int]


@dataclass
class FrameView:
    """Everything the views need for one frame, made off the UI thread."""

    stream_id: str
    seq: int
    timestamp: float
    source_name: str | None
    size: tuple[int, int]  # the frame's width, height
    overlay: np.ndarray  # RGB, full size, with the layers switched on (snapshots are saved from this)
    video: QImage  # the overlay scaled to the video view
    people: list[PersonRow]
    errors: list[dict]
    depth: QImage | None = None  # colour-mapped, scaled to the depth view
    depth_m: np.ndarray | None = None  # metres, full size, 0 = invalid (hover read-out)
    depth_range: tuple[float, float] | None = None
    cloud: tuple[np.ndarray, np.ndarray] | None = None  # (N,3) GL coordinates, (N,4) colours 0..1
    skeletons: list[tuple[np.ndarray, tuple[float, float, float, float]]] = field(default_factory=list)
    render_ms: float = 0.0
    packet: FramePacket | None = None


def to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB888 QImage sharing the array's memory, which it keeps alive (snapshots)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    image._keep = rgb  # type: ignore[attr-defined]  # the buffer lives as long as the image
    return image


def to_display_image(image: np.ndarray, bgr: bool = False) -> QImage:
    """A QImage in the raster engine's own format (RGB32), so painting it is a copy, not a conversion on the
    UI thread; the conversion (0.1 ms) happens here, on the render thread."""
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA if bgr else cv2.COLOR_RGB2BGRA)
    h, w = bgra.shape[:2]
    qimage = QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_RGB32)
    qimage._keep = bgra  # type: ignore[attr-defined]
    return qimage


def fit(size: tuple[int, int], box: tuple[int, int] | None) -> tuple[int, int]:
    """The largest size with the frame's aspect ratio inside ``box`` (the view)."""
    w, h = size
    if not box or box[0] < 2 or box[1] < 2:
        return w, h
    scale = min(box[0] / w, box[1] / h)
    return max(1, int(w * scale)), max(1, int(h * scale))


def camera_to_gl(points: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) to the 3D view's frame (z up, looking along +y)."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1).astype(np.float32)


class FrameRenderer:
    """Stateless per frame; the switches are plain attributes written by the UI thread and read here."""

    def __init__(self, style: OverlayStyle | None = None) -> None:
        self.style = style or OverlayStyle(show_depth_inset=False)
        self.video_box: tuple[int, int] | None = None
        self.depth_box: tuple[int, int] | None = None
        self.want_depth = True
        self.want_cloud = False

    def set_layer(self, name: str, on: bool) -> None:
        """Swap in a new style (one reference assignment: the render thread sees the old or the new one)."""
        if name not in OverlayStyle.LAYERS:
            raise ValueError(f"no overlay layer {name!r}; layers: {', '.join(OverlayStyle.LAYERS)}")
        self.style = dataclasses.replace(self.style, **{name: bool(on)})

    def render(self, packet: FramePacket) -> FrameView:
        t0 = time.perf_counter()
        overlay = OverlayRenderer(self.style).render(packet)
        size = (packet.width, packet.height)
        vw, vh = fit(size, self.video_box)
        shown = overlay if (vw, vh) == size else cv2.resize(
            overlay, (vw, vh), interpolation=cv2.INTER_AREA if vw < size[0] else cv2.INTER_LINEAR)
        persons = packet.get("persons")
        persons = persons if isinstance(persons, Persons) else None
        view = FrameView(stream_id=packet.stream_id, seq=packet.seq, timestamp=packet.timestamp,
                         source_name=packet.source_name, size=size, overlay=overlay, video=to_display_image(shown),
                         people=people_rows(persons), errors=list(packet.errors), packet=packet)
        if packet.depth is not None and self.want_depth:
            self._depth(view, packet)
        if packet.depth is not None and self.want_cloud:
            view.cloud = point_cloud(packet)
        if self.want_cloud and persons is not None:
            view.skeletons = skeletons_3d(persons)
        view.render_ms = (time.perf_counter() - t0) * 1000.0
        return view

    def _depth(self, view: FrameView, packet: FramePacket) -> None:
        depth = packet.depth
        sample = depth[::4, ::4]  # the colour range from a 1/16 sample: percentiles of every pixel cost ms
        valid = sample[sample > 0]
        lo_raw, hi_raw = (float(v) for v in np.percentile(valid, [2, 98])) if valid.size else (0.0, 1000.0)
        hi_raw = max(hi_raw, lo_raw + 1.0)
        alpha = 255.0 / (hi_raw - lo_raw)
        # saturating uint16 subtract (below the range: 0), then scale and saturate to 0..255
        norm = cv2.convertScaleAbs(cv2.subtract(depth, np.full_like(depth, int(lo_raw))), alpha=alpha)
        colored = cv2.applyColorMap(norm, cv2.COLORMAP_TURBO)  # BGR
        colored[depth == 0] = 0
        dh, dw = depth.shape
        tw, th = fit((dw, dh), self.depth_box)
        if (tw, th) != (dw, dh):
            colored = cv2.resize(colored, (tw, th), interpolation=cv2.INTER_NEAREST)
        scale = float(packet.depth_scale)
        view.depth = to_display_image(colored, bgr=True)
        view.depth_m = packet.depth_metres()
        view.depth_range = (lo_raw * scale, hi_raw * scale)


def people_rows(persons: Persons | None) -> list[PersonRow]:
    rows: list[PersonRow] = []
    if persons is None:
        return rows
    for i in range(len(persons)):
        tid = int(persons.track_ids[i])
        distance = None
        if persons.positions_3d is not None and np.all(np.isfinite(persons.positions_3d[i])):
            distance = float(np.linalg.norm(persons.positions_3d[i]))
        action = score = None
        scores: list[tuple[str, float]] = []
        if persons.action_probs is not None:
            p = persons.action_probs[i]
            order = np.argsort(-p)[:3]
            scores = [(persons.action_labels[j], float(p[j])) for j in order]
            action, score, _ = persons.action_decision(i)
        rows.append(PersonRow(tid, distance, action, score, scores, color_for(tid)))
    rows.sort(key=lambda r: (r.track_id < 0, r.track_id))
    return rows


def point_cloud(packet: FramePacket) -> tuple[np.ndarray, np.ndarray] | None:
    """Back-project the depth (subsampled to at most MAX_CLOUD_POINTS) into the 3D view's frame, coloured by
    the colour image where depth is aligned to it, else by distance."""
    metres = packet.depth_metres()
    h, w = metres.shape
    intr = packet.depth_camera or packet.depth_intrinsics or packet.color_intrinsics
    if intr is not None and (intr.width, intr.height) == (w, h):
        fx, fy, cx, cy = intr.fx, intr.fy, intr.cx, intr.cy
    else:  # unknown camera: a nominal 60-degree field of view
        fx = fy = 0.9 * w
        cx, cy = (w - 1) / 2, (h - 1) / 2
    step = max(1, int(np.ceil(np.sqrt(h * w / MAX_CLOUD_POINTS))))
    z = metres[::step, ::step]
    vs, us = np.mgrid[0:h:step, 0:w:step]
    valid = (z > 0) & (z < MAX_DEPTH_M)
    if not valid.any():
        return None
    z, us, vs = z[valid], us[valid], vs[valid]
    xyz = np.stack([(us - cx) * z / fx, (vs - cy) * z / fy, z], axis=-1)
    if packet.depth_aligned and packet.color.shape[:2] == (h, w):
        rgb = packet.color[::step, ::step][valid].astype(np.float32) / 255.0
    else:
        norm = np.clip(z / MAX_DEPTH_M * 255, 0, 255).astype(np.uint8)
        rgb = cv2.applyColorMap(norm.reshape(-1, 1), cv2.COLORMAP_TURBO).reshape(-1, 3)[:, ::-1] / 255.0
    colors = np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1).astype(np.float32)
    return camera_to_gl(xyz), colors


def skeletons_3d(persons: Persons) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Per person: line segments (2M,3) between keypoints whose 3D position is known, and its colour."""
    if persons.keypoints_3d is None:
        return []
    index = {n: i for i, n in enumerate(persons.keypoint_names)}
    edges = [(index[a], index[b]) for a, b in COCO17_EDGES if a in index and b in index]
    out = []
    for i in range(len(persons)):
        k3 = persons.keypoints_3d[i]
        segments = [(k3[a], k3[b]) for a, b in edges if np.all(np.isfinite(k3[a])) and np.all(np.isfinite(k3[b]))]
        if not segments:
            continue
        r, g, b = color_for(int(persons.track_ids[i]))
        out.append((camera_to_gl(np.asarray(segments, np.float32).reshape(-1, 3)), (r / 255, g / 255, b / 255, 1.0)))
    return out
