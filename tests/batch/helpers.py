"""Small recordings and a `percept` runner for the batch tests (real files, real processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from tests.conftest import REPO

TINY_GRAPH = "stages:\n  - {name: a, type: passthrough}\n  - {name: s, type: smooth, params: {kernel: %d}}\n"


def make_video(path: Path, frames: int, size: tuple[int, int] = (64, 48), rate: int = 25) -> Path:
    """An H.264 clip whose frames differ (so smoothing results differ per frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.stack([(xx * 4 + i * 9) % 256, (yy * 5 + i * 3) % 256, np.full_like(xx, i * 11 % 256)], -1)
            for p in s.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def make_images(folder: Path, frames: int, size: tuple[int, int] = (40, 30)) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((size[1], size[0], 3), i * 20 % 256, np.uint8))
    return folder


def tiny_graph(path: Path, kernel: int = 3) -> Path:
    path.write_text(TINY_GRAPH % kernel)
    return path


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def percept(*args: str, timeout: float = 600, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run `python -m app.cli ...` as a user does; returns the process and its wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return proc, time.perf_counter() - t0


def batch_lines(out: Path) -> dict[str, dict]:
    lines = (out / "batch.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {r["path"]: r for r in records}


def results_without_timing(path: Path) -> list[dict]:
    """results.jsonl lines without latency_ms (the only field that is timing)."""
    rows = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        row.pop("latency_ms", None)
        rows.append(row)
    return rows


def marker(out: Path, rel: str) -> dict:
    return json.loads((out / rel / "_DONE.json").read_text())


def make_recording(path: Path, frames: int) -> Path:
    """A RealSense recording (.db3, colour + depth) of the synthetic scene; returns the path written."""
    from pipeline.recording import write_recording
    from pipeline.sources.synthetic import SyntheticSource

    def packets():
        with SyntheticSource(96, 72, fps=30, frames=frames) as src:
            yield from src

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_recording(packets(), path).path
