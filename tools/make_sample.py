"""Writes assets/sample/: the small RGB-D clip that `--source auto` plays when no camera is plugged in.

Made by the project from the synthetic scene (no third-party media): 45 frames of 320x240 colour (JPEG) and 16-bit
depth (PNG), a TUM-style associations.txt and intrinsics.yaml. Run: python tools/make_sample.py
"""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import yaml

from pipeline.sources.synthetic import SyntheticSource

OUT = Path(__file__).resolve().parents[1] / "assets" / "sample"


def main(frames: int = 45, fps: float = 15.0) -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "rgb").mkdir(parents=True)
    (OUT / "depth").mkdir()
    lines = []
    with SyntheticSource(320, 240, fps=fps, frames=frames) as source:
        for packet in source:
            name = f"{packet.seq:04d}"
            cv2.imwrite(str(OUT / "rgb" / f"{name}.jpg"), cv2.cvtColor(packet.color, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 85])
            cv2.imwrite(str(OUT / "depth" / f"{name}.png"), packet.depth, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            lines.append(f"{packet.timestamp:.6f} rgb/{name}.jpg {packet.timestamp:.6f} depth/{name}.png")
        intrinsics = {**source.intrinsics.to_dict(), "depth_scale": 0.001}
    (OUT / "associations.txt").write_text("\n".join(lines) + "\n")
    (OUT / "intrinsics.yaml").write_text(yaml.safe_dump(intrinsics, sort_keys=False))
    print(f"wrote {frames} frames to {OUT}")


if __name__ == "__main__":
    main()
