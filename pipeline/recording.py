"""Writes a replayable RGB-D recording (.db3, RealSense's own format) from any packets, through pyrealsense2's
software device and recorder. The realsense source plays it back losslessly.

pyrealsense2 >= 2.58 writes rosbag2 (.db3) and refuses a .bag name, so a .bag request is written as .db3.
The file is finalised in every case (the recorder is released in ``finally``), so a recording cut short by an
error or Ctrl-C stays playable up to its last frame.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from calibration.camera import Extrinsics, Intrinsics
from pipeline.errors import PerceptError
from pipeline.packet import FramePacket
from pipeline.realsense_convert import extrinsics_to_rs, intrinsics_to_rs

log = logging.getLogger(__name__)


@dataclass
class RecordingStats:
    path: Path
    frames: int
    with_depth: bool

    def __str__(self) -> str:
        return f"{self.frames} frames{' with depth' if self.with_depth else ''} in {self.path}"


def _default_intrinsics(w: int, h: int) -> Intrinsics:
    f = 0.9 * w  # unknown camera: a nominal 60-degree horizontal field of view, said in the log
    return Intrinsics(w, h, f, f, (w - 1) / 2, (h - 1) / 2)


class _Writer:
    """The software device with a colour and (optionally) a depth sensor, opened on the first packet."""

    def __init__(self, path: Path, first: FramePacket, fps: float) -> None:
        import pyrealsense2 as rs

        self.rs = rs
        h, w = first.color.shape[:2]
        color_intr = first.color_intrinsics or _default_intrinsics(w, h)
        if first.color_intrinsics is None:
            log.warning("source has no intrinsics; recording nominal ones (fx=fy=%.1f)", color_intr.fx)
        self.device = rs.software_device()
        self.sensors = []
        self.color_sensor = self.device.add_sensor("Color")
        self.color_profile = self._add_stream(self.color_sensor, rs.stream.color, rs.format.rgb8, 3, color_intr,
                                              fps, uid=1)
        self.depth_sensor = self.depth_profile = None
        if first.depth is not None:
            dh, dw = first.depth.shape
            depth_intr = first.depth_intrinsics or (color_intr if (dw, dh) == (w, h) else _default_intrinsics(dw, dh))
            self.depth_sensor = self.device.add_sensor("Depth")
            self.depth_profile = self._add_stream(self.depth_sensor, rs.stream.depth, rs.format.z16, 2, depth_intr,
                                                  fps, uid=0)
            self.depth_sensor.add_read_only_option(rs.option.depth_units, float(first.depth_scale))
            ext = first.depth_to_color or Extrinsics()
            self.depth_profile.register_extrinsics_to(self.color_profile, extrinsics_to_rs(ext, rs))
            self.color_profile.register_extrinsics_to(self.depth_profile, extrinsics_to_rs(ext.inverse(), rs))
        self.recorder = rs.recorder(str(path), self.device)
        for sensor, profile in ((self.color_sensor, self.color_profile), (self.depth_sensor, self.depth_profile)):
            if sensor is not None:
                sensor.open(profile)
                sensor.start(lambda frame: None)
                self.sensors.append(sensor)

    def _add_stream(self, sensor, stream, fmt, bpp, intr: Intrinsics, fps: float, uid: int):
        rs = self.rs
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = stream, 0, uid
        vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = intr.width, intr.height, int(round(fps)), bpp, fmt
        vs.intrinsics = intrinsics_to_rs(intr, rs)
        return sensor.add_video_stream(vs)

    def _push(self, sensor, profile, array: np.ndarray, bpp: int, ts_ms: float, number: int) -> None:
        rs = self.rs
        frame = rs.software_video_frame()
        frame.pixels = np.ascontiguousarray(array)
        frame.stride = array.shape[1] * bpp
        frame.bpp = bpp
        frame.timestamp = ts_ms
        frame.domain = rs.timestamp_domain.hardware_clock
        frame.frame_number = number
        frame.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(frame)

    def write(self, packet: FramePacket, number: int) -> None:
        ts_ms = packet.timestamp * 1000.0
        if self.depth_sensor is not None:
            if packet.depth is None:
                raise PerceptError(f"frame {packet.seq} has no depth but the recording started with depth")
            self._push(self.depth_sensor, self.depth_profile, packet.depth, 2, ts_ms, number)
        self._push(self.color_sensor, self.color_profile, packet.color, 3, ts_ms, number)

    def close(self) -> None:
        for sensor in self.sensors:
            sensor.stop()
            sensor.close()
        self.sensors = []
        self.recorder = None  # releasing the recorder finalises the file


def recording_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() == ".bag":
        log.warning("pyrealsense2 >= 2.58 writes rosbag2; writing %s instead", path.with_suffix(".db3").name)
        path = path.with_suffix(".db3")
    if path.suffix.lower() != ".db3":
        raise PerceptError(f"a RealSense recording must end in .db3, got {path.name}")
    return path


def write_recording(packets: Iterable[FramePacket], path: str | Path, fps: float | None = None) -> RecordingStats:
    """Record colour (rgb8) and depth (z16, with its depth units, intrinsics and extrinsics) frame by frame."""
    path = recording_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    writer: _Writer | None = None
    count = 0
    try:
        for packet in packets:
            if writer is None:
                writer = _Writer(path, packet, fps or 30.0)
            writer.write(packet, count)
            count += 1
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise PerceptError("the source gave no frames; nothing was recorded")
    return RecordingStats(path, count, writer.depth_sensor is not None)
