"""Cameras that are plugged in: RealSense devices (with their stream profiles) and OpenCV webcams."""
from __future__ import annotations

import glob
import logging
import re
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)


@dataclass
class CameraInfo:
    kind: str  # "realsense" | "webcam"
    name: str
    source: str  # the --source spec that opens it
    serial: str | None = None
    firmware: str | None = None
    usb: str | None = None
    product_line: str | None = None
    profiles: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def realsense_devices() -> list[CameraInfo]:
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        log.warning("pyrealsense2 unavailable (%s): RealSense devices not listed", exc)
        return []
    found = []
    for dev in rs.context().query_devices():
        def info(key):
            return dev.get_info(key) if dev.supports(key) else None

        serial = info(rs.camera_info.serial_number)
        profiles = sorted({str(p).split(": ", 1)[-1].rstrip(">") for s in dev.query_sensors()
                           for p in s.get_stream_profiles()})
        found.append(CameraInfo("realsense", info(rs.camera_info.name) or "RealSense", f"realsense:{serial}",
                                serial, info(rs.camera_info.firmware_version), info(rs.camera_info.usb_type_descriptor),
                                info(rs.camera_info.product_line), profiles))
    return found


def webcam_devices(probe: bool = True) -> list[CameraInfo]:
    """V4L2 capture nodes; with ``probe`` only those OpenCV can open (RealSense nodes are included by V4L2)."""
    found = []
    for path in sorted(glob.glob("/dev/video*"), key=lambda p: int(re.sub(r"\D", "", p) or 0)):
        index = int(re.sub(r"\D", "", path) or 0)
        if probe:
            import cv2

            cap = cv2.VideoCapture(index)
            ok = cap.isOpened()
            cap.release()
            if not ok:
                continue
        found.append(CameraInfo("webcam", path, f"webcam:{index}"))
    return found


def list_devices() -> list[CameraInfo]:
    return realsense_devices() + webcam_devices()
