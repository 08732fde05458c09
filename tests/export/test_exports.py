"""The exports (Rerun, MCAP/Foxglove, COCO, MOTChallenge), each read back with its own library and compared with
results.jsonl frame by frame; a run killed with SIGKILL; `percept export` on an existing run; missing packages."""
from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from models.export.coco import coco_image_id
from models.results import read_results
from tests.conftest import REPO, data_path

CLIP = ("action_clips", "demo_demo.mp4")  # 340x256, 280 frames, people with tracks


def percept(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def run_with_exports(out: Path, source: Path, frames: int, graph: str = "default", exports: str = "rerun,mcap,coco,mot",
                     *extra: str) -> list:
    proc = percept("run", "--headless", "--source", str(source), "--out", str(out), "--device", "cpu", "--graph",
                   graph, "--no-progress", "--no-video", "--max-frames", str(frames), "--export", exports, *extra)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return list(read_results(out / "results.jsonl"))


# ----- readers: each file through its own library ------------------------------------------------------------
def read_mot(path: Path) -> dict[int, dict[int, tuple]]:
    frames: dict[int, dict[int, tuple]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        f = line.split(",")
        assert len(f) == 10 and f[7:] == ["-1", "-1", "-1"], line
        frames[int(f[0])][int(f[1])] = tuple(float(v) for v in f[2:7])
    return frames


def load_coco(path: Path, results: list):
    """pycocotools' loadRes against a ground truth of the images the results name."""
    from pycocotools.coco import COCO

    gt = COCO()
    ids = sorted({coco_image_id(r.source_name, r.frame) for r in results})
    gt.dataset = {"images": [{"id": i, "width": 640, "height": 480} for i in ids], "annotations": [],
                  "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        return gt.loadRes(str(path))


def read_mcap(path: Path) -> dict[str, list]:
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        schemas = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
        messages = defaultdict(list)
        for schema, channel, message, proto in reader.iter_decoded_messages():
            messages[channel.topic].append((message, proto))
    return {"schemas": schemas, **messages}


def read_rrd(path: Path) -> dict[str, dict[int, dict]]:
    """entity path -> frame -> {column: value} through rerun's chunk reader."""
    import rerun.chunk as rrc

    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for chunk in rrc.RrdReader(str(path)).stream():  # stream(): also a file cut before its footer
        batch = chunk.to_record_batch()
        batch = batch.select([n for n in batch.schema.names if n not in ("log_time", "time", "rerun.controls.RowId")])
        if "frame" not in batch.schema.names:
            out[str(chunk.entity_path)].setdefault(-1, {}).update(
                {n: batch.column(n).to_pylist()[0] for n in batch.schema.names})
            continue
        rows = batch.to_pylist()
        for row in rows:
            out[str(chunk.entity_path)].setdefault(row["frame"], {}).update(row)
    return out


# ----- checks -------------------------------------------------------------------------------------------------
def check_mot(out: Path, results: list) -> None:
    mot = read_mot(out / "mot.txt")
    for r in results:
        p = r.persons
        expected = {int(t): (float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1]), float(s))
                    for t, b, s in zip(p.track_ids, p.boxes, p.scores) if t >= 0}
        got = mot.get(r.frame + 1, {})
        assert set(got) == set(expected), r.frame
        for tid, row in expected.items():
            np.testing.assert_allclose(got[tid], row, atol=0.011)


def check_coco(out: Path, results: list) -> None:
    from models.vision.keypoints import COCO17_NAMES

    raw = json.loads((out / "coco_keypoints.json").read_text())
    expected = []
    for r in results:
        p = r.persons
        if p.keypoints is None:
            continue
        idx = {n: j for j, n in enumerate(p.keypoint_names)}
        for i in range(len(p)):
            kp = np.nan_to_num(np.stack([p.keypoints[i, idx[n]] for n in COCO17_NAMES]), nan=0.0)
            expected.append((coco_image_id(r.source_name, r.frame), kp.ravel(), float(p.scores[i])))
    assert len(raw) == len(expected)
    for entry, (image_id, kp, score) in zip(raw, expected):
        assert entry["image_id"] == image_id and entry["category_id"] == 1
        np.testing.assert_allclose(entry["keypoints"], kp, atol=1e-3)
        assert entry["score"] == pytest.approx(score, abs=1e-4)
    if raw:
        res = load_coco(out / "coco_keypoints.json", results)
        assert len(res.anns) == len(raw)
        assert all(a["num_keypoints"] if "num_keypoints" in a else True for a in res.anns.values())


def check_mcap(out: Path, results: list, images: bool = True) -> None:
    data = read_mcap(out / "results.mcap")
    schemas = data["schemas"]
    assert schemas["/persons/scene"] == "foxglove.SceneUpdate"
    assert schemas["/persons/image"] == "foxglove.ImageAnnotations"
    if images:
        assert schemas["/camera/color"] == "foxglove.CompressedImage"
        assert len(data["/camera/color"]) == len(results)
    counts = {t: len(v) for t, v in data.items() if t != "schemas"}
    assert counts["/persons/scene"] == counts["/persons/image"] == len(results)
    for r, (message, scene) in zip(results, data["/persons/scene"]):
        assert message.sequence == r.frame
        assert len(scene.entities) == len(r.persons)
        p = r.persons
        for i, entity in enumerate(scene.entities):
            assert entity.id == (str(p.track_ids[i]) if p.track_ids[i] >= 0 else f"untracked_{i}")
            if p.keypoints_3d is not None:
                known = {kv.key: [float(v) for v in kv.value.split(",")] for kv in entity.metadata}
                for j, name in enumerate(p.keypoint_names):
                    if np.all(np.isfinite(p.keypoints_3d[i, j])):
                        np.testing.assert_allclose(known[name], p.keypoints_3d[i, j], atol=1e-4)
    for r, (_, ann) in zip(results, data["/persons/image"]):
        p = r.persons
        if p.keypoints is None:
            continue
        clouds = [a for a in ann.points if a.type == 1]  # POINTS: one per person, keypoints in JSONL order
        assert len(clouds) == len(p)
        for i, cloud in enumerate(clouds):
            xy = np.nan_to_num(p.keypoints[i, :, :2], nan=0.0)
            np.testing.assert_allclose([[q.x, q.y] for q in cloud.points], xy, atol=1e-3)


def check_rrd(out: Path, results: list, images: bool = True) -> None:
    rrd = read_rrd(out / "results.rrd")
    frames = {r.frame for r in results}
    assert set(rrd["/world/camera/image/boxes"]) == frames
    if images:
        assert set(rrd["/world/camera/image"]) == frames
    assert "AnnotationContext:context" in rrd["/world"][-1] or not any(r.persons.keypoints is not None
                                                                        for r in results)
    for r in results:
        p = r.persons
        boxes = rrd["/world/camera/image/boxes"][r.frame]
        assert len(boxes["Boxes2D:centers"]) == len(p)
        for i in range(len(p)):
            key = str(p.track_ids[i]) if p.track_ids[i] >= 0 else f"untracked_{i}"
            if p.keypoints is not None:
                row = rrd[f"/world/camera/image/person/{key}"][r.frame]
                ok = np.all(np.isfinite(p.keypoints[i, :, :2]), axis=1)
                assert row["Points2D:keypoint_ids"] == np.flatnonzero(ok).tolist()
                np.testing.assert_allclose(row["Points2D:positions"], p.keypoints[i, ok, :2], atol=1e-3)
            if p.keypoints_3d is not None:
                row = rrd[f"/world/person/{key}/skeleton"][r.frame]
                ok = np.all(np.isfinite(p.keypoints_3d[i]), axis=1)
                np.testing.assert_allclose(row["Points3D:positions"], p.keypoints_3d[i, ok], atol=1e-4)
        for stage, ms in r.latency_ms.items():
            assert rrd[f"/latency_ms/{stage}"][r.frame]["Scalars:scalars"] == pytest.approx([ms], rel=1e-6)


# ----- tests --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_all_four_exports_of_a_real_clip_agree_with_the_jsonl(tmp_path):
    out = tmp_path / "o"
    results = run_with_exports(out, data_path(*CLIP), 40)
    assert len(results) == 40 and any((r.persons.track_ids >= 0).any() for r in results)
    check_mot(out, results)
    check_coco(out, results)
    check_mcap(out, results)
    check_rrd(out, results)
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["outputs"]["exports"]) == 4 and metrics["ended_by"] == "frame_limit"


@pytest.mark.slow
def test_rgbd_exports_carry_depth_calibration_and_point_cloud(tmp_path):
    out = tmp_path / "o"
    results = run_with_exports(out, REPO / "assets" / "sample", 6, "pose2d", "rerun,mcap")
    data = read_mcap(out / "results.mcap")
    assert data["schemas"]["/camera/depth"] == "foxglove.RawImage"
    assert data["schemas"]["/camera/calibration"] == "foxglove.CameraCalibration"
    assert len(data["/camera/depth"]) == len(data["/camera/calibration"]) == len(results)
    _, calib = data["/camera/calibration"][0]
    assert calib.K[0] > 0 and calib.width > 0 and data["/camera/depth"][0][1].encoding == "16UC1"
    rrd = read_rrd(out / "results.rrd")
    assert set(rrd["/world/camera/depth"]) == set(rrd["/world/points"]) == {r.frame for r in results}
    assert "Pinhole:image_from_camera" in rrd["/world/camera"][-1]
    assert len(rrd["/world/points"][results[0].frame]["Points3D:positions"]) > 1000


@pytest.mark.slow
def test_percept_export_converts_an_existing_run(tmp_path):
    out = tmp_path / "o"
    proc = percept("run", "--headless", "--source", str(data_path(*CLIP)), "--out", str(out), "--device", "cpu",
                   "--graph", "pose2d", "--no-progress", "--no-video", "--max-frames", "25")
    assert proc.returncode == 0, proc.stderr
    conv = tmp_path / "conv"
    proc = percept("export", str(out), "--to", "rerun,mcap", "--to", "coco,mot", "--out", str(conv))
    assert proc.returncode == 0, proc.stderr
    results = list(read_results(out / "results.jsonl"))
    check_mot(conv, results)
    check_coco(conv, results)
    check_mcap(conv, results, images=False)
    check_rrd(conv, results, images=False)


def test_user_mistakes_are_one_line(tmp_path):
    proc = percept("run", "--headless", "--source", "synthetic:64x48,frames=3", "--out", str(tmp_path / "o"),
                   "--export", "rerun,cocoa")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: unknown export 'cocoa': choose from rerun, rerun-live, mcap, coco, mot (comma-separated)"]
    proc = percept("export", str(tmp_path / "nothing"), "--to", "mot")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: ") and "results.jsonl" in proc.stderr


def test_a_missing_package_is_one_line(tmp_path):
    """rerun hidden from the import system: the run stops before anything opens, naming the extra."""
    code = ("import sys; sys.modules['rerun'] = None; import importlib.util as u; "
            "real = u.find_spec; u.find_spec = lambda n, *a: None if n == 'rerun' else real(n, *a); "
            "from app.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--headless", "--source", "synthetic:64x48,frames=3",
                           "--out", str(tmp_path / "o"), "--export", "rerun,mot"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: --export rerun,mot needs rerun-sdk: pip install 'percept[export]' (or pip install rerun-sdk)"]
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_graph_level_exports(tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text("exports: [coco, mot]\nstages:\n  - name: edges\n    type: passthrough\n")
    out = tmp_path / "o"
    proc = percept("run", "--headless", "--source", "synthetic:64x48,frames=4", "--out", str(out), "--graph",
                   str(graph), "--no-progress", "--no-video", "--export", "mot")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "coco_keypoints.json").read_text()) == []
    assert (out / "mot.txt").read_text() == ""


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:RRD file has no footer")
def test_sigkill_leaves_readable_exports(tmp_path):
    """SIGKILL mid-run: mot.txt and coco_keypoints.json hold every frame of results.jsonl up to the kill, whole;
    the .rrd reads back through rerun up to the cut; the MCAP has no footer (make_reader refuses it) but its whole
    chunks read back as a stream."""
    out = tmp_path / "o"
    out.mkdir()
    graph = tmp_path / "tracked_pose.yaml"  # pose2d with track ids (for mot.txt), no heavier stages
    graph.write_text("stages:\n" + "".join(f"  - name: {n}\n    type: {t}\n" for n, t in
                                           (("detector", "person_detector"), ("tracker", "tracker"), ("pose", "pose"))))
    stderr = open(tmp_path / "stderr", "w")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--headless", "--source", str(data_path(*CLIP)),
                             "--out", str(out), "--device", "cpu", "--graph", str(graph), "--no-progress",
                             "--no-video", "--export", "rerun,mcap,coco,mot"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    stderr.close()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        path = out / "results.jsonl"
        if path.exists() and path.read_bytes().count(b"\n") >= 90:
            break
        time.sleep(0.1)
    assert proc.poll() is None, (tmp_path / "stderr").read_text()
    proc.kill()
    assert proc.wait(30) == -signal.SIGKILL
    results = list(read_results(out / "results.jsonl"))
    assert len(results) >= 90
    # MOT and COCO: the frames of the JSONL (the exporters write after it: at most the frame in hand is missing)
    mot = read_mot(out / "mot.txt")
    coco = json.loads((out / "coco_keypoints.json").read_text())  # valid JSON
    assert mot and max(mot) <= results[-1].frame + 1  # frames 1-based; nothing the JSONL lacks
    check_mot(out, results[:-1])  # every frame but the one the kill may have caught between the two files
    assert len(coco) >= sum(len(r.persons) for r in results[:-1])
    res = load_coco(out / "coco_keypoints.json", results)
    assert len(res.anns) == len(coco)
    # Rerun: what reached the file reads back
    rrd = read_rrd(out / "results.rrd")
    frames = sorted(rrd["/world/camera/image/boxes"])
    assert len(frames) >= 30 and frames == list(range(len(frames)))
    check_rrd_frames = [r for r in results if r.frame in set(frames)]
    for r in check_rrd_frames:
        assert len(rrd["/world/camera/image/boxes"][r.frame]["Boxes2D:centers"]) == len(r.persons)
    # MCAP: no summary; its whole chunks read as a stream
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap.records import Message
    from mcap.stream_reader import StreamReader

    with open(out / "results.mcap", "rb") as f, pytest.raises(Exception):
        list(make_reader(f).iter_messages())
    counts: Counter = Counter()
    with open(out / "results.mcap", "rb") as f:
        try:
            for record in StreamReader(f, skip_magic=False).records:
                if isinstance(record, Message):
                    counts[record.channel_id] += 1
        except (McapError, EOFError, ValueError):
            pass  # the cut
    assert counts and max(counts.values()) >= 28 * 1 - 1, counts  # at least the first second of source time
