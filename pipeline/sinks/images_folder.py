"""Writes frames as a replayable RGB-D image folder: rgb/*.png, depth/*.png (16-bit), associations.txt,
intrinsics.yaml. The ``images`` source reads it back losslessly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import yaml

from pipeline.errors import PerceptError
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink


class ImagesFolderSink(Sink):
    def __init__(self, folder: str | Path, color_format: str = "png") -> None:
        self.folder = Path(folder)
        self.color_format = color_format
        self._assoc = None
        self._intrinsics_written = False
        self.frames = 0

    def open(self, source_info: dict[str, Any]) -> None:
        if self.folder.exists() and any(self.folder.iterdir()):
            raise PerceptError(f"output folder {self.folder} is not empty; choose a new one")
        (self.folder / "rgb").mkdir(parents=True, exist_ok=True)
        self._assoc = (self.folder / "associations.txt").open("w")

    def write(self, packet: FramePacket) -> None:
        name = f"{self.frames:06d}"
        rgb_rel = f"rgb/{name}.{self.color_format}"
        if not cv2.imwrite(str(self.folder / rgb_rel), cv2.cvtColor(packet.color, cv2.COLOR_RGB2BGR)):
            raise PerceptError(f"cannot write {self.folder / rgb_rel}")
        line = f"{packet.timestamp:.6f} {rgb_rel}"
        if packet.depth is not None:
            (self.folder / "depth").mkdir(exist_ok=True)
            depth_rel = f"depth/{name}.png"
            cv2.imwrite(str(self.folder / depth_rel), packet.depth)
            line += f" {packet.timestamp:.6f} {depth_rel}"
        if not self._intrinsics_written and packet.color_intrinsics is not None:
            data = {**packet.color_intrinsics.to_dict(), "depth_scale": packet.depth_scale}
            (self.folder / "intrinsics.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
            self._intrinsics_written = True
        self._assoc.write(line + "\n")
        self._assoc.flush()
        self.frames += 1

    def close(self) -> None:
        if self._assoc is not None:
            self._assoc.close()
            self._assoc = None
