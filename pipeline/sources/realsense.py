"""Intel RealSense cameras (live) and their recordings (.bag, .db3), through pyrealsense2.

Live: ``rs.pipeline`` with colour + depth, depth aligned to colour by ``rs.align`` (device intrinsics, depth scale).
Recordings are played back losslessly and as fast as the graph takes them: ``rs.pipeline`` playback drops frames
even with ``set_real_time(False)``, so the playback device's sensors are started with callbacks instead, frames are
paired by frame number, and a bounded queue makes the playback wait for the graph. Playback delivers depth as
recorded: when the depth and colour streams differ it stays in the depth camera (``depth_aligned=False`` with
``depth_intrinsics`` and ``depth_to_color``), and the ``register_depth`` stage (``pipeline/depth_stages.py``)
registers it to colour.
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np

from pipeline.errors import SourceError
from pipeline.packet import FramePacket
from pipeline.realsense_convert import extrinsics_from_rs, intrinsics_from_rs
from pipeline.sources.base import Source, SourceSpec, register_source

log = logging.getLogger(__name__)


def _import_rs():
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        raise SourceError(f"pyrealsense2 cannot be loaded ({exc}); on Linux install libusb-1.0-0") from exc
    return rs


class RealSenseLiveSource(Source):
    live = True

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480, fps: int = 30,
                 timeout_ms: int = 5000) -> None:
        self.serial, self.width, self.height, self.fps = serial, width, height, fps
        self.timeout_ms = timeout_ms
        self.name = f"realsense {serial or ''}".strip()
        self._pipeline = None
        self._align = None
        self._seq = 0

    def open(self) -> None:
        rs = _import_rs()
        devices = rs.context().query_devices()
        if len(devices) == 0:
            raise SourceError("no RealSense device found; plug one in, or use --source FILE or --source synthetic")
        pipe = rs.pipeline()
        config = rs.config()
        if self.serial:
            config.enable_device(self.serial)
        config.enable_stream(rs.stream.depth, self.width, self.height, rs.format.z16, self.fps)
        config.enable_stream(rs.stream.color, self.width, self.height, rs.format.rgb8, self.fps)
        try:
            profile = pipe.start(config)
        except RuntimeError as exc:
            raise SourceError(f"RealSense {self.serial or ''} cannot stream {self.width}x{self.height}@{self.fps} "
                              f"colour+depth: {exc}") from exc
        device = profile.get_device()
        self.name = f"{device.get_info(rs.camera_info.name)} {device.get_info(rs.camera_info.serial_number)}"
        self.depth_scale = device.first_depth_sensor().get_depth_scale()
        color_profile = profile.get_stream(rs.stream.color).as_video_stream_profile()
        depth_profile = profile.get_stream(rs.stream.depth).as_video_stream_profile()
        self.color_intrinsics = intrinsics_from_rs(color_profile.get_intrinsics())
        self.depth_intrinsics = intrinsics_from_rs(depth_profile.get_intrinsics())
        self.depth_to_color = extrinsics_from_rs(depth_profile.get_extrinsics_to(color_profile))
        self._align = rs.align(rs.stream.color)
        self._pipeline = pipe

    def read(self) -> FramePacket | None:
        try:
            frames = self._pipeline.wait_for_frames(self.timeout_ms)
        except RuntimeError as exc:
            raise SourceError(f"RealSense {self.name} stopped delivering frames (unplugged?): {exc}") from exc
        frames = self._align.process(frames)
        color, depth = frames.get_color_frame(), frames.get_depth_frame()
        packet = FramePacket(
            seq=self._seq, timestamp=color.get_timestamp() / 1000.0,
            color=np.asanyarray(color.get_data()).copy(), depth=np.asanyarray(depth.get_data()).copy(),
            depth_scale=self.depth_scale, depth_aligned=True, color_intrinsics=self.color_intrinsics,
            depth_intrinsics=self.color_intrinsics, source_name=None)
        self._seq += 1
        return packet

    def close(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            finally:
                self._pipeline = None


class RealSensePlaybackSource(Source):
    """Lossless playback of a .bag/.db3 recording: every recorded colour frame becomes one packet."""

    live = False
    _END = object()

    def __init__(self, path: str | Path, queue_size: int = 8) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._sensors = []
        self._playback = None
        self._pending: dict[str, dict[int, tuple[float, np.ndarray]]] = {"color": {}, "depth": {}}
        self._seq = 0
        self._done = False

    def open(self) -> None:
        rs = _import_rs()
        self._rs = rs
        if not self.path.is_file():
            raise SourceError(f"recording not found: {self.path}")
        try:
            device = rs.context().load_device(str(self.path))
            playback = device.as_playback()
            playback.set_real_time(False)
            sensors = list(device.query_sensors())
        except RuntimeError as exc:
            raise SourceError(f"cannot open RealSense recording {self.path.name}: {exc} (corrupt or not a "
                              f".bag/.db3 file?)") from exc
        self._playback = playback
        self.depth_scale = 0.001
        streams: dict[str, object] = {}
        for sensor in sensors:
            for profile in sensor.get_stream_profiles():
                kind = {rs.stream.color: "color", rs.stream.depth: "depth"}.get(profile.stream_type())
                if kind:
                    streams[kind] = profile.as_video_stream_profile()
            if any(p.stream_type() == rs.stream.depth for p in sensor.get_stream_profiles()):
                try:
                    self.depth_scale = float(sensor.get_option(rs.option.depth_units))
                except RuntimeError:
                    log.warning("%s has no depth units; assuming 1 mm", self.path.name)
        if "color" not in streams:
            raise SourceError(f"{self.path.name} has no colour stream; Percept needs colour (+ optional depth)")
        self.color_intrinsics = intrinsics_from_rs(streams["color"].get_intrinsics())
        self.fps = float(streams["color"].fps()) or None
        self.has_depth = "depth" in streams
        self.depth_intrinsics = self.depth_to_color = None
        self.depth_aligned = False
        if self.has_depth:
            self.depth_intrinsics = intrinsics_from_rs(streams["depth"].get_intrinsics())
            try:
                self.depth_to_color = extrinsics_from_rs(streams["depth"].get_extrinsics_to(streams["color"]))
            except RuntimeError:
                self.depth_to_color = None
            same_camera = (self.depth_intrinsics == self.color_intrinsics and self.depth_to_color is not None
                           and np.allclose(self.depth_to_color.rotation, np.eye(3))
                           and np.allclose(self.depth_to_color.translation, 0))
            # depth in another camera stays there: the register_depth stage aligns it (librealsense's CPU align
            # is slow and leaves holes since 2.58, so it is not used for recordings)
            self.depth_aligned = bool(same_camera)
        playback.pause()
        try:
            for sensor in sensors:
                sensor.open(sensor.get_stream_profiles())
                sensor.start(self._on_frame)
                self._sensors.append(sensor)
        except RuntimeError as exc:
            raise SourceError(f"cannot play {self.path.name}: {exc}") from exc
        playback.resume()

    def _on_frame(self, frame) -> None:
        """librealsense's playback thread: copy the pixels out and wait (losslessly) for room in the queue."""
        rs = self._rs
        kind = {rs.stream.color: "color", rs.stream.depth: "depth"}.get(frame.get_profile().stream_type())
        if kind is None:
            return
        item = (kind, int(frame.get_frame_number()), float(frame.get_timestamp()),
                np.asanyarray(frame.as_video_frame().get_data()).copy())
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _next_item(self):
        while True:
            try:
                return self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._playback.current_status() == self._rs.playback_status.stopped and self._queue.empty():
                    return None

    def read(self) -> FramePacket | None:
        if self._done:
            return None
        while True:
            pair = self._take_pair()
            if pair is not None:
                return self._packet(*pair)
            item = self._next_item()
            if item is None:
                self._done = True
                leftover = sorted(self._pending["color"])
                if leftover and self.has_depth:
                    log.warning("%s: %d colour frame(s) without depth at the end", self.name, len(leftover))
                if leftover:  # a colour frame without its depth (cut recording): still one result per frame
                    number = leftover[0]
                    ts, color = self._pending["color"].pop(number)
                    self._done = len(leftover) == 1
                    return self._packet(number, ts, color, None)
                return None
            kind, number, ts, data = item
            self._pending[kind][number] = (ts, data)

    def _take_pair(self):
        colors = self._pending["color"]
        if not colors:
            return None
        number = min(colors)
        if self.has_depth:
            depth = self._pending["depth"].pop(number, None)
            if depth is None:
                return None
            # depth frames older than the oldest colour frame have no partner: drop them (counted in the log)
            for stale in [n for n in self._pending["depth"] if n < number]:
                del self._pending["depth"][stale]
            ts, color = colors.pop(number)
            return number, ts, color, depth[1]
        ts, color = colors.pop(number)
        return number, ts, color, None

    def _packet(self, number: int, ts_ms: float, color: np.ndarray, depth: np.ndarray | None) -> FramePacket:
        has = depth is not None
        packet = FramePacket(
            seq=self._seq, timestamp=ts_ms / 1000.0, color=color, depth=depth, depth_scale=self.depth_scale,
            depth_aligned=self.depth_aligned, color_intrinsics=self.color_intrinsics,
            depth_intrinsics=self.depth_intrinsics if has else None,
            depth_to_color=self.depth_to_color if has else None, source_name=self.name)
        self._seq += 1
        return packet

    def close(self) -> None:
        self._closing.set()
        for sensor in self._sensors:
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        self._sensors = []

    def describe(self) -> dict:
        return {**super().describe(), "depth": getattr(self, "has_depth", None),
                "depth_aligned": getattr(self, "depth_aligned", None)}


@register_source("realsense")
def _make(spec: SourceSpec) -> Source:
    target = spec.target
    if target and (Path(target).suffix.lower() in (".bag", ".db3") or Path(target).exists()):
        return RealSensePlaybackSource(target)
    opts = spec.options
    return RealSenseLiveSource(serial=target or None, width=int(opts.get("width", 640)),
                               height=int(opts.get("height", 480)), fps=int(opts.get("fps", 30)))
