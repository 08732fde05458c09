"""``auto``: the first RealSense device, else a webcam, else the samples that ship in assets/.

So that ``percept run`` with no arguments always does something, and says what it picked: without a camera, the
bundled clip with people (detection, pose, tracking, actions to see); the RGB-D sample (a desk, no people) is for
depth and stays reachable as ``--source assets/sample``.
"""
from __future__ import annotations

import logging

from pipeline.errors import SourceError
from pipeline.paths import asset
from pipeline.sources.base import Source, SourceSpec, make_source, register_source

log = logging.getLogger(__name__)
SAMPLE_DIR = asset("sample")
PEOPLE_SAMPLE = asset("sample_people") / "people.mp4"


def _realsense_present() -> bool:
    try:
        import pyrealsense2 as rs
    except Exception:  # no libusb / no wheel: no RealSense
        return False
    try:
        return len(rs.context().query_devices()) > 0
    except Exception:
        return False


def choose_source_spec() -> tuple[SourceSpec, str]:
    """The spec auto picks and a sentence saying why."""
    from pipeline.sources.webcam import webcam_available

    if _realsense_present():
        return SourceSpec("realsense"), "using the first RealSense camera"
    if webcam_available(0):
        return SourceSpec("webcam", "0"), "no RealSense camera found; using webcam 0"
    if PEOPLE_SAMPLE.is_file():
        return (SourceSpec("video", str(PEOPLE_SAMPLE)),
                f"no camera found; playing the bundled clip with people ({PEOPLE_SAMPLE})")
    if (SAMPLE_DIR / "intrinsics.yaml").is_file():
        return (SourceSpec("images", str(SAMPLE_DIR), {"fps": "15"}),
                f"no camera found; playing the bundled RGB-D sample ({SAMPLE_DIR})")
    raise SourceError("no camera found and the bundled sample is missing; give --source FILE or synthetic")


class AutoSource(Source):
    """Delegates to the source chosen at open time."""

    def __init__(self) -> None:
        self.inner: Source | None = None
        self.reason = ""

    def open(self) -> None:
        spec, self.reason = choose_source_spec()
        log.warning("auto source: %s", self.reason)
        self.inner = make_source(spec)
        self.inner.open()
        self.name, self.live = self.inner.name, self.inner.live
        self.frame_count, self.fps = self.inner.frame_count, self.inner.fps
        self.sequence = getattr(self.inner, "sequence", True)

    def read(self):
        return self.inner.read()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()

    def describe(self) -> dict:
        return {**(self.inner.describe() if self.inner else {}), "auto": self.reason}


@register_source("auto")
def _make(spec: SourceSpec) -> AutoSource:
    return AutoSource()
