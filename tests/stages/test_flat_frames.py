"""Flat and degenerate frames (a covered lens, a black first frame, a 1-pixel strip, a 12-megapixel still, with no,
constant or all-zero depth) through every shipped graph: every result line is valid JSON with finite numbers, and
no stage reports an error. A stage that divides by a zero spread or measures from an empty set must say "nothing
here" (an empty list, null), never NaN/inf, which the JSONL sink refuses ("Out of range float values")."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.graph_bench import MemorySource
from app.session import Session
from models.results import results_sink
from calibration.camera import Intrinsics
from pipeline.packet import FramePacket
from pipeline.paths import asset
from tests.conftest import data_path

GRAPHS = sorted(asset("graphs").glob("*.yaml"))
FRAMES_PER_KIND = 2  # the second frame reaches the stateful paths (motion against the previous frame, tracks)

# name, height, width, colour value, depth (None, or the constant depth in mm; 0: no depth anywhere)
KINDS = [
    ("grey", 480, 640, 128, None), ("grey-depth", 480, 640, 128, 1500), ("grey-zero-depth", 480, 640, 128, 0),
    ("black", 480, 640, 0, None), ("black-depth", 480, 640, 0, 1500), ("white-zero-depth", 480, 640, 255, 0),
    ("1x1", 1, 1, 77, 1500), ("1x1-zero-depth", 1, 1, 77, 0), ("2x2", 2, 2, 200, None),
    ("1x640", 1, 640, 30, 1500), ("640x1", 640, 1, 30, 0), ("huge", 3000, 4000, 128, 1500),
]


def frame(color: np.ndarray, depth_mm: int | None) -> FramePacket:
    h, w = color.shape[:2]
    f = 0.9 * w
    intrinsics = Intrinsics(w, h, f, f, (w - 1) / 2, (h - 1) / 2)
    depth = None if depth_mm is None else np.full((h, w), depth_mm, np.uint16)
    return FramePacket(seq=0, timestamp=0.0, color=np.ascontiguousarray(color), depth=depth,
                       color_intrinsics=intrinsics)


def no_nan(text: str):
    raise AssertionError(f"non-finite number {text} in a result line")


def run_kinds(session: Session, kinds: dict[str, FramePacket], out: Path) -> dict[str, list[dict]]:
    """Every kind as a stream of its own, all at once in one session; the result lines as written to JSONL."""
    with session:
        streams = {name: session.start(MemorySource([f], name=name, total=FRAMES_PER_KIND),
                                       [results_sink(out / f"{name}.jsonl")], mode="offline",
                                       stream_id=name) for name, f in kinds.items()}
        reports = {name: s.run_to_end() for name, s in streams.items()}
    lines = {}
    for name, report in reports.items():
        assert report.ended_by == "end_of_stream", f"{name}: {report.ended_by}: {report.error}"
        text = (out / f"{name}.jsonl").read_text().splitlines()
        lines[name] = [json.loads(line, parse_constant=no_nan) for line in text]
        assert len(lines[name]) == FRAMES_PER_KIND, name
    return lines


def assert_clean(lines: dict[str, list[dict]]) -> None:
    for name, records in lines.items():
        for record in records:
            assert record["errors"] == [], f"{name}: {record['errors']}"
            assert record["persons"] == [] or all(isinstance(p, dict) for p in record["persons"])


@pytest.mark.parametrize("graph", GRAPHS, ids=[g.stem for g in GRAPHS])
def test_flat_and_degenerate_frames_pass_every_stage_of_every_shipped_graph(tmp_path, graph):
    kinds = {name: frame(np.full((h, w, 3), value, np.uint8), depth) for name, h, w, value, depth in KINDS}
    lines = run_kinds(Session.from_options(str(graph), device="cpu"), kinds, tmp_path)
    assert_clean(lines)
    assert all(record["persons"] == [] for records in lines.values() for record in records), \
        "a person found in a flat frame"
    if graph.stem == "bench":  # the stages that used to give inf and fail on a 1-pixel side answer plainly
        assert lines["grey"][0]["edge_density"] == 0.0 and lines["grey"][0]["edge_distance"] is None
        assert lines["1x640"][1]["motion"] == 0.0


def test_people_with_flat_and_missing_depth_through_the_default_graph(tmp_path):
    """Real people (crops, pose, face, depth lift) with constant depth, no valid depth, as a thin strip, and as a
    12-megapixel still."""
    image = cv2.cvtColor(cv2.imread(str(data_path("pose", "coco", "000000000785.jpg"))), cv2.COLOR_BGR2RGB)
    kinds = {"photo-flat-depth": frame(image, 1500), "photo-zero-depth": frame(image, 0),
             "photo-thin": frame(cv2.resize(image, (640, 8)), 0),
             "photo-huge": frame(cv2.resize(image, (4000, 3000)), 1500)}
    lines = run_kinds(Session.from_options("default", device="cpu"), kinds, tmp_path)
    assert_clean(lines)
    assert lines["photo-flat-depth"][0]["persons"] and lines["photo-zero-depth"][0]["persons"], \
        "the photo's person was not found: the depth paths were not exercised"
