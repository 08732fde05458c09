"""Bad inputs end as one clear line and the right exit code: a truncated video (exit 1, the frames before the break
processed), a stage whose setup fails (exit 1), an empty graph (exit 2), a GPU asked for where there is none (a
warning, then the CPU), and graph hints that make sense."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

from pipeline.errors import ConfigError, SourceError
from pipeline.sources.video import VideoSource
from tests.conftest import REPO, data_path
import tests.pipeline.helpers  # noqa: F401  (registers test stages)


def percept(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def decodable_frames(path: Path) -> int:
    """Frames plain PyAV gets out of a file before it ends or raises."""
    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(video=0):
                n += 1
    except av.FFmpegError:
        pass
    return n


def read_source(path: Path) -> tuple[int, SourceError | None, dict]:
    src = VideoSource(path)
    n, error = 0, None
    try:
        src.open()
        while src.read() is not None:
            n += 1
    except SourceError as exc:
        error = exc
    finally:
        info = src.describe() if src._stream is not None else {}
        src.close()
    return n, error, info


def remuxed(tmp_path: Path, clip: str, suffix: str, options: dict | None = None) -> Path:
    """A real clip's packets, copied into another container (e.g. an MP4 with its index first: faststart)."""
    original = data_path("action_clips", clip)
    path = tmp_path / f"{original.stem}_remuxed{suffix}"
    with av.open(str(original)) as i, av.open(str(path), "w", options=options or {}) as o:
        out = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = out
            o.mux(packet)
    return path


def truncated_copy(tmp_path: Path, original: Path, fraction: float) -> Path:
    data = original.read_bytes()
    path = tmp_path / f"cut_{int(fraction * 1000)}_{original.name}"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


CUT_CASES = {  # a real clip as it is, or remuxed (its frames untouched) -> how many frames its header declares
    "avi": (lambda tmp: data_path("action_clips", "tests_data_test.avi"), 164),
    "mp4 faststart": (lambda tmp: remuxed(tmp, "tests_data_test.mp4", ".mp4", {"movflags": "faststart"}), 300),
}


# ----- truncated and intact videos -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CUT_CASES))
def test_truncated_real_clip_is_exit_1_with_the_decoded_frames(tmp_path, case):
    make, declared = CUT_CASES[case]
    path = truncated_copy(tmp_path, make(tmp_path), 0.6)
    expected = decodable_frames(path)
    assert 0 < expected < declared
    out = tmp_path / "o"
    proc = percept("run", "--source", str(path), "--graph", "empty", "--headless", "--out", str(out),
                   "--no-progress", "--no-video")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc)
    assert len(errors) == 1, proc.stderr
    assert "truncated" in errors[0] and f"after frame {expected} of the {declared}" in errors[0], errors[0]
    assert f"at byte {path.stat().st_size}" in errors[0], errors[0]
    # nothing else on stderr but the run's summary line (no FFmpeg log lines)
    others = [line for line in proc.stderr.splitlines() if line.strip() and line not in errors]
    assert len(others) == 1 and others[0].startswith(f"{expected} frames in"), proc.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(expected))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ended_by"] == "source_error" and metrics["frames_done"] == expected
    assert metrics["source"]["frames"] == expected and metrics["source"]["declared_frames"] == declared


def test_mp4_cut_before_its_index_is_one_line_naming_the_break(tmp_path):
    """Most MP4s carry their index ('moov') last: cut, nothing can be decoded; say so, not "is it a video?"."""
    original = data_path("action_clips", "tests_data_test.mp4")
    path = truncated_copy(tmp_path, original, 0.6)
    proc = percept("run", "--source", str(path), "--graph", "empty", "--headless", "--out", str(tmp_path / "o"),
                   "--no-progress", "--no-video")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "truncated" in lines[0] and f"ends at byte {path.stat().st_size}" in lines[0]
    assert "'moov' index is missing" in lines[0], lines[0]


def _cut_sources(tmp_path: Path, kind: str) -> Path:
    if kind == "mkv":
        return remuxed(tmp_path, "tests_data_test.mp4", ".mkv")
    if kind in CUT_CASES:
        return CUT_CASES[kind][0](tmp_path)
    return data_path("action_clips", kind)


@pytest.mark.parametrize("kind", ["tests_data_test.mp4", "demo_demo.mp4", "tests_data_test.avi", "mp4 faststart",
                                  "mkv"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_a_cut_file_never_ends_quietly(tmp_path, kind, fraction):
    path = truncated_copy(tmp_path, _cut_sources(tmp_path, kind), fraction)
    n, error, info = read_source(path)
    assert error is not None, f"{kind} cut at {fraction:.0%}: {n} frames and no error"
    assert "truncated or corrupt" in str(error)
    assert n == decodable_frames(path)
    if info:
        assert info["frames"] == n and info["frames_decoded"] == n


@pytest.mark.parametrize("kind", ["tests_data_test.mp4", "demo_test_video_structuralize.mp4", "demo_demo.mp4",
                                  "tests_data_test.avi", "demo_demo_skeleton.mp4", "mp4 faststart", "mkv"])
def test_intact_clips_end_normally_with_every_frame(tmp_path, kind):
    path = _cut_sources(tmp_path, kind)
    n, error, info = read_source(path)
    assert error is None
    assert n == decodable_frames(path) and info["frames"] == n and info["frames_decoded"] == n


def test_vtest_wrong_header_is_not_broken_and_counts_decoded_frames():
    """vtest.avi claims 50 fps; it holds 341 frames at 25 fps: not truncated, and the count is the decoded one."""
    path = data_path("pedestrians", "vtest.avi")
    n, error, info = read_source(path)
    assert error is None
    assert n == 341 and info["frames"] == 341


# ----- stage setup errors --------------------------------------------------------------------------------------
def test_plugin_setup_error_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "boomplug.py").write_text(textwrap.dedent("""
        from pipeline.stage import Stage

        class Boom(Stage):
            type_name = "boom"
            outputs = ("b",)

            def setup(self, context):
                raise RuntimeError("boom")

            def process(self, packet):
                return {"b": 1}
    """))
    graph = tmp_path / "g.yaml"
    graph.write_text("stages:\n  - {name: kaboom, type: boom}\n")
    proc = percept("run", "--source", "synthetic:64x48,frames=3", "--graph", str(graph), "--plugin", "boomplug:Boom",
                   "--headless", "--out", str(tmp_path / "o"), "--no-video", "--no-progress",
                   env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "'kaboom'" in lines[0] and "RuntimeError: boom" in lines[0]


def test_percept_error_in_setup_keeps_its_kind_and_names_the_stage():
    from pipeline.engine import Engine
    from pipeline.graph import Graph
    from pipeline.stage import Stage

    class NeedsModel(Stage):
        type_name = "needs_model"

        def setup(self, context):
            raise ConfigError("model file not found: x.onnx")

    engine = Engine(Graph.from_stages([("det", NeedsModel())]))
    with pytest.raises(ConfigError, match=r"stage 'det' \(needs_model\): model file not found"):
        engine.start()
    assert engine.closed


# ----- empty graphs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["# nothing yet\n", "stages:\n", "mode: live\n"])
def test_graph_file_without_stages_is_a_config_error(tmp_path, text):
    from pipeline.graph import load_graph_config

    graph = tmp_path / "g.yaml"
    graph.write_text(text)
    with pytest.raises(ConfigError, match="has no stages"):
        load_graph_config(graph)


@pytest.mark.parametrize("text", ["", "stages: []\n"])
def test_empty_graph_is_a_config_error(tmp_path, text):
    graph = tmp_path / "g.yaml"
    graph.write_text(text)
    proc = percept("run", "--source", "synthetic:64x48,frames=3", "--graph", str(graph), "--headless",
                   "--out", str(tmp_path / "o"), "--no-video", "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "has no stages" in lines[0], proc.stderr
    assert not (tmp_path / "o" / "results.jsonl").exists()


# ----- graph hints ---------------------------------------------------------------------------------------------
def build(stages):
    from pipeline.graph import Graph, parse_graph_config

    return Graph.from_config(parse_graph_config({"stages": stages}))


def test_missing_input_never_suggests_moving_a_stage_before_itself():
    with pytest.raises(ConfigError) as info:  # reads and writes k; nothing creates it
        build([{"name": "upd", "type": "test_sleep", "params": {"key": "k", "needs": "k"}}])
    message = str(info.value)
    assert "move one before" not in message and "add a stage that produces it before 'upd'" in message
    with pytest.raises(ConfigError) as info:  # a later updater is no help; a later creator is
        build([{"name": "upd", "type": "test_sleep", "params": {"key": "k", "needs": "k"}},
               {"name": "upd2", "type": "test_sleep", "params": {"key": "k", "needs": "k"}},
               {"name": "make", "type": "test_sleep", "params": {"key": "k"}}])
    assert "stages that produce it: make (move one before 'upd')" in str(info.value)


# ----- devices -------------------------------------------------------------------------------------------------
def test_cuda_without_gpu_warns_once_and_runs_on_cpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present here")
    graph = tmp_path / "g.yaml"
    graph.write_text("stages:\n  - {name: det, type: person_detector}\n")
    out = tmp_path / "o"
    proc = percept("run", "--source", "synthetic:64x48,frames=2", "--graph", str(graph), "--device", "cuda",
                   "--headless", "--out", str(out), "--no-video", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "cuda" in line and "CPU" in line]
    assert len(warnings) == 1, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert "[W:onnxruntime" not in stream and "[E:onnxruntime" not in stream and "\x1b[" not in stream
    assert proc.stdout.strip() == ""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stages"]["det"]["info"]["providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("value, verbose, want", [("", False, 3), ("", True, 2), ("0", False, 0), ("4", True, 4),
                                                  ("loud", False, 3)])
def test_ort_log_severity(monkeypatch, value, verbose, want):
    import logging

    from models.runtime.onnx import ort_log_severity

    monkeypatch.setenv("PERCEPT_ORT_LOG", value)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        assert ort_log_severity() == want
    finally:
        root.setLevel(level)


# ----- the action checkpoint in the manifest ------------------------------------------------------------------
def test_action_checkpoint_is_a_manifest_entry():
    from models.registry import Registry
    from pipeline.paths import asset

    path = Registry().verify("skeleton_oadtr_lite", force=True)
    assert path == asset("models", "action", "skeleton_oadtr_lite", "model.safetensors")


def test_a_gpu_provider_that_cannot_start_leaves_no_raw_ort_log(capfd):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present here")
    import onnxruntime as ort

    from models.runtime.onnx import OnnxModel
    from pipeline.paths import asset

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider to fail")
    model = OnnxModel(asset("models", "face_detection_short_range.onnx"),
                      providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert model.providers == ["CPUExecutionProvider"]
    out, err = capfd.readouterr()
    for stream in (out, err):
        assert "onnxruntime:" not in stream and "\x1b[" not in stream, stream
