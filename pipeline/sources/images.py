"""A folder of colour images, optionally with 16-bit depth PNGs, a TUM RGB-D association list and intrinsics.

Layouts understood (first match wins):
- ``DIR/associations.txt`` (or ``assoc=FILE``): TUM lines ``t_rgb rgb/x.png t_depth depth/x.png``;
- ``DIR/rgb|color|colour/`` with ``DIR/depth|depths/`` paired by the number in the file name (else by order);
- a flat folder of images (colour only), e.g. a COCO subset. ``source_name`` is each image's file name.
Intrinsics come from ``intrinsics=FILE`` or ``DIR/intrinsics.yaml`` (keys fx, fy, cx, cy, optional width, height,
distortion, depth_scale). The depth unit defaults to 1 mm (``depth_scale=`` overrides; TUM's 5000/m is 0.0002).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np
import yaml

from calibration.camera import Intrinsics
from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.sources.base import Source, SourceSpec, register_source

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
_COLOR_DIRS = ("rgb", "color", "colour", "images")
_DEPTH_DIRS = ("depth", "depths")


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _frame_number(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _list_images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=_natural_key)


def _read_association(path: Path, root: Path) -> list[tuple[float, Path, Path | None]]:
    entries = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (2, 4):
            raise SourceError(f"{path}:{lineno}: expected 't_rgb rgb_file [t_depth depth_file]', got {line!r}")
        try:
            ts = float(parts[0])
        except ValueError as exc:
            raise SourceError(f"{path}:{lineno}: timestamp {parts[0]!r} is not a number") from exc
        entries.append((ts, root / parts[1], root / parts[3] if len(parts) == 4 else None))
    return entries


def load_intrinsics_yaml(path: Path) -> tuple[Intrinsics | None, float | None, tuple[int, int] | None]:
    """Intrinsics (size may be unknown until the first image), depth scale if given. Also reads the OpenCV
    FileStorage files that `percept calibrate intrinsics` writes."""
    text = path.read_text(errors="replace")
    if text.startswith("%YAML") or "camera_matrix" in text[:4000]:
        from calibration.errors import CalibrationError
        from calibration.io import read_intrinsics

        try:
            intr = read_intrinsics(path)
            return intr, None, (intr.width, intr.height)
        except (CalibrationError, ValueError, KeyError) as exc:
            raise SourceError(f"intrinsics file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
        fx, fy, cx, cy = (float(data[k]) for k in ("fx", "fy", "cx", "cy"))
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"intrinsics file {path} must be YAML with numeric fx, fy, cx, cy ({exc})") from exc
    size = (int(data["width"]), int(data["height"])) if "width" in data and "height" in data else None
    intr = Intrinsics(size[0], size[1], fx, fy, cx, cy, tuple(data.get("distortion", ()))) if size else None
    scale = float(data["depth_scale"]) if "depth_scale" in data else None
    if intr is None:
        # remember the numbers; the size is filled in from the first image
        intr = Intrinsics(1, 1, fx, fy, cx, cy, tuple(data.get("distortion", ())))
    return intr, scale, size


class ImagesSource(Source):
    live = False

    def __init__(self, folder: str | Path, depth_folder: str | Path | None = None,
                 association: str | Path | None = None, intrinsics: str | Path | None = None,
                 depth_scale: float | None = None, fps: float = 30.0, sequence: bool | None = None) -> None:
        self.folder = Path(folder)
        # the frames of one capture (an RGB-D recording's rgb/ + depth/ or associations.txt) follow each other in
        # time; a plain folder of photos (COCO) does not, and no stage may carry a person from one to the next
        self.sequence = sequence if sequence is not None else bool(
            depth_folder or association or (self.folder / "associations.txt").is_file()
            or any((self.folder / d).is_dir() for d in _DEPTH_DIRS))
        self.name = self.folder.name or str(self.folder)
        self.fps = fps
        self._depth_folder = Path(depth_folder) if depth_folder else None
        self._association = Path(association) if association else None
        self._intrinsics_path = Path(intrinsics) if intrinsics else None
        self._depth_scale_opt = depth_scale
        self.entries: list[tuple[float, Path, Path | None]] = []
        self.intrinsics: Intrinsics | None = None
        self._intr_has_size = False
        self.depth_scale = depth_scale or 0.001
        self._i = 0

    def open(self) -> None:
        root = self.folder
        if not root.is_dir():
            raise SourceError(f"images folder not found: {root}")
        assoc = self._association or (root / "associations.txt")
        if assoc.is_file():
            entries = _read_association(assoc, root)
            present = [e for e in entries if e[1].is_file() and (e[2] is None or e[2].is_file())]
            if len(present) < len(entries):
                log.warning("%s lists %d frames, %d are present; using those", assoc.name, len(entries),
                            len(present))
            self.entries = present
        else:
            color_dir = next((root / d for d in _COLOR_DIRS if (root / d).is_dir()), root)
            depth_dir = self._depth_folder or next((root / d for d in _DEPTH_DIRS if (root / d).is_dir()), None)
            colors = _list_images(color_dir)
            depths = _list_images(depth_dir) if depth_dir else []
            if depth_dir and not depths:
                raise SourceError(f"depth folder {depth_dir} has no images")
            pairs = self._pair(colors, depths)
            self.entries = [(i / self.fps, c, d) for i, (c, d) in enumerate(pairs)]
        if not self.entries:
            raise SourceError(f"no images found in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        intr_path = self._intrinsics_path or (root / "intrinsics.yaml")
        if self._intrinsics_path and not intr_path.is_file():
            raise SourceError(f"intrinsics file not found: {intr_path}")
        if intr_path.is_file():
            self.intrinsics, scale, size = load_intrinsics_yaml(intr_path)
            self._intr_has_size = size is not None
            if scale is not None and self._depth_scale_opt is None:
                self.depth_scale = scale
        self.frame_count = len(self.entries)
        self._i = 0

    @staticmethod
    def _pair(colors: list[Path], depths: list[Path]) -> list[tuple[Path, Path | None]]:
        if not depths:
            return [(c, None) for c in colors]
        by_number = {_frame_number(d): d for d in depths}
        if None not in by_number and len(by_number) == len(depths):
            pairs = [(c, by_number.get(_frame_number(c))) for c in colors]
            if all(d is not None for _, d in pairs):
                return pairs
        if len(colors) != len(depths):
            raise SourceError(f"{len(colors)} colour images but {len(depths)} depth images, and their names do "
                              f"not pair by frame number; give an associations.txt")
        return list(zip(colors, depths))

    def read(self) -> FramePacket | None:
        if self._i >= len(self.entries):
            return None
        ts, color_path, depth_path = self.entries[self._i]
        bgr = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f"cannot read image {color_path} (corrupt or not an image)")
        color = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        depth = None
        if depth_path is not None:
            depth = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            if depth is None:
                raise SourceError(f"cannot read depth image {depth_path} (corrupt or not an image)")
            if depth.dtype != np.uint16 or depth.ndim != 2:
                raise SourceError(f"depth image {depth_path} must be a 16-bit single-channel PNG, "
                                  f"got {depth.dtype} with shape {depth.shape}")
            if depth.shape != color.shape[:2]:
                raise SourceError(f"depth image {depth_path.name} is {depth.shape[1]}x{depth.shape[0]} but the "
                                  f"colour image is {color.shape[1]}x{color.shape[0]}; depth must be aligned")
        intr = self.intrinsics
        if intr is not None and (intr.width, intr.height) != (color.shape[1], color.shape[0]):
            if self._intr_has_size:
                raise SourceError(f"intrinsics are for {intr.width}x{intr.height} but {color_path.name} is "
                                  f"{color.shape[1]}x{color.shape[0]}")
            intr = Intrinsics(color.shape[1], color.shape[0], intr.fx, intr.fy, intr.cx, intr.cy, intr.distortion)
        packet = FramePacket(seq=self._i, timestamp=ts, color=color, depth=depth, depth_scale=self.depth_scale,
                             color_intrinsics=intr, depth_intrinsics=intr if depth is not None else None,
                             source_name=color_path.name)
        self._i += 1
        return packet


@register_source("images")
def _make(spec: SourceSpec) -> ImagesSource:
    o = spec.options
    return ImagesSource(spec.target, depth_folder=o.get("depth"), association=o.get("assoc"),
                        intrinsics=o.get("intrinsics"),
                        depth_scale=float(o["depth_scale"]) if "depth_scale" in o else None,
                        fps=float(o.get("fps", 30)),
                        sequence=_flag(o["sequence"], "sequence") if "sequence" in o else None)


def _flag(value: str, key: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SourceError(f"images option {key}={value!r}: use {key}=1 or {key}=0")
