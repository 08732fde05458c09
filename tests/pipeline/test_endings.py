"""How `percept run` ends, in real processes on a real clip: SIGKILL, SIGTERM, Ctrl-C once and twice, a full disk.
Every time: annotated.mp4 decodes (a killed one up to its last whole fragment), every results.jsonl line is whole
JSON, metrics.json says how the run ended, no traceback or native abort on stderr, the documented exit code."""
from __future__ import annotations

import errno
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from tests.conftest import REPO, data_path

CLIP = ("action_clips", "demo_demo.mp4")  # 340x256, 280 frames at 28 fps
CLIP_FPS = 28
BAD_STDERR = ("Traceback", "terminate called", "did not finish", "Fatal Python error", "Aborted", "core dumped")
SEED = int(os.environ.get("PERCEPT_TEST_SEED", str(int(time.time()) % 100_000)))


def launch(out: Path, *args: str, source: Path | None = None, graph: str = "pose2d", preexec=None) -> subprocess.Popen:
    source = source or data_path(*CLIP)
    out.mkdir(parents=True, exist_ok=True)
    stderr = open(out.parent / f"{out.name}.stderr", "w")  # a file, not a pipe: a full pipe would stall the run
    cmd = [sys.executable, "-m", "app.cli", "run", "--headless", "--source", str(source), "--out", str(out),
           "--device", "cpu", "--graph", graph, "--no-progress", *args]
    try:
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=preexec)
    finally:
        stderr.close()


def stderr_of(out: Path) -> str:
    return (out.parent / f"{out.name}.stderr").read_text()


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(proc: subprocess.Popen, out: Path, n: int, timeout_s: float = 300) -> int:
    """Poll results.jsonl until it holds ``n`` lines (the run is producing output); bounded, generous."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = line_count(out / "results.jsonl")
        if lines >= n:
            return lines
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) after {lines} lines:\n{stderr_of(out)}"
        assert time.monotonic() < deadline, f"only {lines} result lines after {timeout_s} s:\n{stderr_of(out)}"
        time.sleep(0.05)


def finish(proc: subprocess.Popen, timeout_s: float = 120) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the run did not end within {timeout_s} s of the signal")


def read_results(out: Path) -> list[dict]:
    data = (out / "results.jsonl").read_bytes()
    assert not data or data.endswith(b"\n"), f"a partial last line: {data[-200:]!r}"
    records = [json.loads(line) for line in data.decode("utf-8").splitlines()]  # every line whole JSON
    assert [r["frame"] for r in records] == list(range(len(records)))
    return records


def decode(path: Path) -> tuple[int, list[float], bool]:
    """Frames decoded, their times, and whether the whole file decoded without an error."""
    times: list[float] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                times.append(float(frame.time))
    except av.FFmpegError:
        return len(times), times, False
    return len(times), times, True


def check_outputs(out: Path, ended_by: str, video: str = "closed") -> tuple[list[dict], dict]:
    """``video``: closed (every frame, the file whole), killed (up to its last whole fragment), failed (a write
    failed: trimmed to its last whole fragment, so it decodes to its end)."""
    records = read_results(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ended_by"] == ended_by, metrics.get("error")
    if video == "none":
        assert not (out / "annotated.mp4").exists()
        frames, whole = len(records), True
    else:
        frames, _, whole = decode(out / "annotated.mp4")
    assert frames <= len(records)
    if video == "killed":  # lost at most: the fragment being written (a keyframe a second), the encoder's delay
        assert frames >= len(records) - (CLIP_FPS + 25), (frames, len(records))
    else:
        assert whole, "the video does not decode to its end"
        assert metrics["frames_done"] == len(records) and metrics["frames_written"] == len(records)
    if video == "closed":
        assert frames == len(records), (frames, len(records))
    err = stderr_of(out)
    assert not [bad for bad in BAD_STDERR if bad in err], err
    return records, metrics


# ----- the files themselves --------------------------------------------------------------------------------------
def _write_synthetic_video(path: Path, frames: int, fps: int = 25):
    from pipeline.sinks import VideoSink
    from pipeline.sources.synthetic import SyntheticSource

    sink = VideoSink(path, fps=fps)
    sink.open({})
    with SyntheticSource(320, 240, fps=fps, frames=frames) as src:
        for p in src:
            sink.write(p)
    sink.close()


def test_annotated_mp4_is_fragmented_with_a_keyframe_a_second(tmp_path):
    path = tmp_path / "v.mp4"
    _write_synthetic_video(path, 130, fps=25)
    data = path.read_bytes()
    assert data.count(b"moof") >= 5 and b"mfra" in data[-4096:]
    with av.open(str(path)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(video=0) if p.pts is not None and p.is_keyframe]
    gaps = [b - a for a, b in zip(sorted(keys), sorted(keys)[1:])]
    assert len(keys) >= 5 and max(gaps) <= 1.0 + 1e-6, keys
    assert decode(path)[0] == 130


def test_a_cut_annotated_mp4_decodes_up_to_its_last_whole_fragment(tmp_path):
    path = tmp_path / "v.mp4"
    _write_synthetic_video(path, 130, fps=25)
    data = path.read_bytes()
    for fraction in (0.35, 0.5, 0.77, 0.93):
        cut = tmp_path / f"cut{fraction}.mp4"
        cut.write_bytes(data[: int(len(data) * fraction)])  # as a SIGKILL or a power cut leaves it
        frames, times, _ = decode(cut)
        # at most the fragment being written is lost: a second of frames
        assert frames >= int(130 * fraction) - 25 - 1, (fraction, frames)
        assert times == sorted(times)


def test_cut_to_whole_fragments_drops_a_half_written_tail(tmp_path):
    from pipeline.sinks.video import cut_to_whole_fragments

    path = tmp_path / "v.mp4"
    _write_synthetic_video(path, 80, fps=25)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    size = cut_to_whole_fragments(path)
    assert size is not None and 0 < size < int(len(data) * 0.6)
    frames, _, whole = decode(path)
    assert whole and frames >= 25  # the trimmed file decodes to its end without an error


def test_jsonl_never_keeps_a_partial_line(tmp_path, monkeypatch):
    """A write that the kernel takes only part of and then fails (a full disk) is cut back to the last line."""
    import pipeline.sinks.jsonl as jsonl
    from pipeline.sources.synthetic import SyntheticSource

    sink = jsonl.JsonlSink(tmp_path / "r.jsonl", {"persons": []})
    sink.open({})
    packets = list(SyntheticSource(64, 48, frames=6))
    for p in packets[:3]:
        sink.write(p)
    real_write, calls = os.write, []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))  # part of the line fits
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonl.os, "write", full_disk)
    with pytest.raises(OSError) as raised:
        sink.write(packets[3])
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.setattr(jsonl.os, "write", real_write)
    sink.write(packets[4])  # room again: the file goes on after the last whole line
    sink.close()
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == [0, 1, 2, 4]


def test_annotated_video_keeps_the_real_timing(tmp_path):
    """vtest.avi's header says one rate, its frames are timed at another: the annotated video lasts as long as
    the recording (timestamps from the source, not the header's rate)."""
    from pipeline.sources.video import VideoSource

    clip = data_path("pedestrians", "vtest.avi")
    n = 60
    with VideoSource(clip) as src:
        stamps = [src.read().timestamp for _ in range(n)]
        header_fps = src.fps
    real_s = stamps[-1] - stamps[0]
    out = tmp_path / "o"
    proc = launch(out, "--max-frames", str(n), source=clip, graph="bench")
    assert finish(proc, 300) == 0, stderr_of(out)
    check_outputs(out, "frame_limit")
    frames, times, _ = decode(out / "annotated.mp4")
    assert frames == n
    assert times[-1] - times[0] == pytest.approx(real_s, abs=0.02), (header_fps, real_s, times[-1] - times[0])


# ----- killed, terminated, interrupted --------------------------------------------------------------------------
def test_sigkill_leaves_playable_video_whole_lines_and_running_metrics(tmp_path):
    rng = random.Random(SEED)
    out = tmp_path / "o"
    proc = launch(out)
    wait_for_lines(proc, out, 80)
    time.sleep(rng.uniform(0.0, 1.5))  # a random moment
    proc.kill()
    assert finish(proc) == -signal.SIGKILL
    records, metrics = check_outputs(out, "running", video="killed")
    assert metrics["frames_done"] <= len(records) and metrics["config_hash"], f"seed {SEED}"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGINT twice"])
def test_signals_end_the_run_cleanly(tmp_path, how):
    rng = random.Random(f"{SEED}-{how}")
    out = tmp_path / "o"
    proc = launch(out)
    wait_for_lines(proc, out, rng.randint(3, 40))
    time.sleep(rng.uniform(0.0, 1.0))
    proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
    if how == "SIGINT twice":
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGINT)
    assert finish(proc) == 130, stderr_of(out)
    records, metrics = check_outputs(out, "terminated" if how == "SIGTERM" else "interrupted")
    assert metrics["wall_s"] > 0 and metrics["fps"] > 0 and metrics["frames_done"] == len(records) > 0
    assert metrics["frames_unfinished"] == metrics["frames_admitted"] - metrics["frames_done"] >= 0
    assert ("terminated" if how == "SIGTERM" else "interrupted") in stderr_of(out), f"seed {SEED}"


def test_default_graph_survives_double_ctrl_c_and_sigkill(tmp_path):
    """The default graph (models in several stages, several worker threads in native code): Ctrl-C twice ends
    at once without an abort; SIGKILL leaves valid files."""
    rng = random.Random(f"{SEED}-default")
    out = tmp_path / "int"
    proc = launch(out, graph="default")
    wait_for_lines(proc, out, 3)
    time.sleep(rng.uniform(0.0, 1.0))
    proc.send_signal(signal.SIGINT)
    time.sleep(rng.uniform(0.3, 1.0))
    proc.send_signal(signal.SIGINT)
    assert finish(proc) == 130, stderr_of(out)
    check_outputs(out, "interrupted")

    out = tmp_path / "kill"
    proc = launch(out, graph="default")
    wait_for_lines(proc, out, 3)
    time.sleep(rng.uniform(0.0, 1.0))
    proc.kill()
    assert finish(proc) == -signal.SIGKILL
    check_outputs(out, "running", video="killed")


@pytest.mark.parametrize("full_at, limit_kib", [("results.jsonl", 48), ("annotated.mp4", 200)])
def test_disk_full_ends_with_one_error_line_and_valid_outputs(tmp_path, full_at, limit_kib):
    """A real write failure: the run under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with
    EFBIG as on a full disk). Without the video the results file reaches the limit; with it the video does."""
    limit = limit_kib * 1024

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "o"
    video = full_at == "annotated.mp4"
    proc = launch(out, *([] if video else ["--no-video"]), graph="bench", preexec=small_disk)
    assert finish(proc, 300) == 1, stderr_of(out)
    err = stderr_of(out)
    errors = [line for line in err.splitlines() if line.strip() and " frames in " not in line]
    assert len(errors) == 1 and errors[0].startswith("error: disk full:") and full_at in errors[0], err
    records, metrics = check_outputs(out, "disk_full", video="failed" if video else "none")
    assert 0 < len(records) < 280 and full_at in metrics["error"]
    assert max(p.stat().st_size for p in out.iterdir()) <= limit
    if video:
        assert decode(out / "annotated.mp4")[0] >= CLIP_FPS  # whole fragments were kept


def test_any_other_write_failure_ends_as_sink_error_with_valid_outputs(tmp_path, monkeypatch):
    from app.session import Session
    from pipeline.sinks import VideoSink

    real_write = VideoSink.write

    def failing(self, packet):
        if self.frames == 40:
            raise OSError(errno.EIO, "Input/output error")
        real_write(self, packet)

    monkeypatch.setattr(VideoSink, "write", failing)
    with Session.from_options("bench", device="cpu") as session:
        report = session.run_to_folder("synthetic:160x120,frames=100000", tmp_path)
    assert report.ended_by == "sink_error" and "annotated.mp4" in report.error and "Input/output" in report.error
    records, metrics = check_outputs_in_process(tmp_path, "sink_error")
    assert len(records) == 41 and metrics["frames_written"] == 41
    frames, _, whole = decode(tmp_path / "annotated.mp4")
    assert whole and frames <= 40


def check_outputs_in_process(out: Path, ended_by: str) -> tuple[list[dict], dict]:
    records = read_results(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ended_by"] == ended_by and metrics["frames_done"] == len(records)
    return records, metrics
