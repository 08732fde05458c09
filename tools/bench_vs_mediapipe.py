"""MediaPipe's Pose solution and Percept's pose2d graph on the same clip, in one run, on this machine.

    python tools/bench_vs_mediapipe.py --mediapipe-python /tmp/mpvenv/bin/python
    python tools/bench_vs_mediapipe.py --crop 0,180,640,180      # one person: the bundled clip's lower band

MediaPipe is not a dependency of Percept (0.10.21, the last release with the legacy solutions, needs numpy < 2):
install it in a venv of its own and name that venv's python,

    python3.11 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install "mediapipe==0.10.21" "numpy<2" av

or leave --mediapipe-python out where `import mediapipe` works in this interpreter. Both sides get the same decoded
RGB frames held in memory (decoding is not timed), one after the other, never at once: MediaPipe's
``solutions.pose.Pose(model_complexity=1)`` (the BlazePose full landmark model that Percept's pose stage runs too)
frame after frame as its own graph runs them, and Percept's graph pipelined as ``percept bench`` runs it.
Printed: frames/s of each, people per frame, Percept's person-frames/s, and the ratios. MediaPipe follows one person;
Percept follows everyone, so the fair comparison on a clip with several people is person-frames per second.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDIAPIPE_SCRIPT = r"""
import json, sys, time
import av, numpy as np
import mediapipe as mp
path, frames = sys.argv[1], int(sys.argv[2])
images = []
with av.open(path) as c:
    for f in c.decode(video=0):
        images.append(f.to_ndarray(format="rgb24"))
        if len(images) >= frames:
            break
pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=False)
pose.process(images[0])  # load the graph
pose.close()
pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=False)
found = 0
t0 = time.perf_counter()
for image in images:
    found += pose.process(image).pose_landmarks is not None
wall = time.perf_counter() - t0
print(json.dumps({"frames": len(images), "wall_s": wall, "fps": len(images) / wall,
                  "people_per_frame": found / len(images), "version": mp.__version__}))
"""


def cropped_clip(source: Path, crop: tuple[int, int, int, int], frames: int, out: Path) -> Path:
    """The first ``frames`` frames of ``source`` cut to x, y, w, h (PyAV, H.264), written to ``out``."""
    import av

    x, y, w, h = crop
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        rate = src.streams.video[0].average_rate or 30
        stream = dst.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        stream.options = {"crf": "12"}
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")[y:y + stream.height, x:x + stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def run_mediapipe(python: str, clip: Path, frames: int) -> dict:
    proc = subprocess.run([python, "-c", MEDIAPIPE_SCRIPT, str(clip), str(frames)], capture_output=True, text=True,
                          env={**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode != 0:
        raise SystemExit(f"error: MediaPipe did not run with {python}: {proc.stderr.strip().splitlines()[-1:]}"
                         " (install it in a venv of its own: see this script's docstring)")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_percept(graph: str, clip: Path, frames: int, device: str) -> dict:
    from app.graph_bench import MemorySource, RecordSink, bench, preload
    from app.session import Session
    from pipeline.sources import open_source

    session = Session.from_options(graph, device, [])
    loaded = preload(open_source(str(clip)), frames)
    with session:
        result = bench(session, loaded, len(loaded), "offline", False, None)
        sink = RecordSink()
        report = session.run(MemorySource(loaded, total=len(loaded)), [sink], mode="offline")
    people = np.mean([len(r.get("persons") or []) for r in sink.records])
    providers = sorted({p for d in report.stage_info.values() if isinstance(d, dict) for p in _providers(d)})
    return {"frames": len(loaded), "fps": result["pipelined"]["fps"], "people_per_frame": float(people),
            "providers": providers}


def _providers(info: dict) -> list[str]:
    out = list(info.get("providers", []))
    for value in info.values():
        if isinstance(value, dict):
            out += _providers(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "assets" / "sample_people" / "people.mp4")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--crop", default="", help="x,y,w,h: cut the clip first (e.g. around one person)")
    parser.add_argument("--graph", default="pose2d")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mediapipe-python", default=sys.executable)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.source.is_file():
        print(f"error: {args.source} not found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.source
        if args.crop:
            crop = tuple(int(v) for v in args.crop.split(","))
            if len(crop) != 4:
                print("error: --crop takes x,y,w,h", file=sys.stderr)
                return 2
            clip = cropped_clip(args.source, crop, args.frames, Path(tmp) / "crop.mp4")
        mp_result = run_mediapipe(args.mediapipe_python, clip, args.frames)
        ours = run_percept(args.graph, clip, args.frames, args.device)
    out = {"clip": f"{args.source.name}{' crop ' + args.crop if args.crop else ''}", "machine": os.uname().machine,
           "cpus": os.cpu_count(), "mediapipe": mp_result, "percept": ours,
           "fps_ratio": round(ours["fps"] / mp_result["fps"], 3),
           "person_frames_ratio": round(ours["fps"] * ours["people_per_frame"] / mp_result["fps"], 3)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['clip']}, {ours['frames']} frames, {out['cpus']} CPUs ({out['machine']})")
    print(f"MediaPipe {mp_result['version']} Pose (full): {mp_result['fps']:.1f} frames/s, "
          f"{mp_result['people_per_frame']:.2f} people per frame")
    print(f"Percept {args.graph} ({', '.join(ours['providers']) or 'providers unknown'}): {ours['fps']:.1f} "
          f"frames/s, {ours['people_per_frame']:.2f} people per frame, "
          f"{ours['fps'] * ours['people_per_frame']:.1f} person-frames/s")
    print(f"ratio Percept / MediaPipe: frames/s x{out['fps_ratio']}, person-frames/s x{out['person_frames_ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
