"""`percept eval head-pose` / `gaze` read results.jsonl through models.results (the one reader) and score the typed
faces; the exports and the file see the one record (models.results.record_of)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.eval.face_angles import largest_face, read_results, score
from models.eval.face_labels import FaceLabel
from models.export.base import LastFrameResult
from models.results import FrameResult, read_results as read_result_lines, record_of, results_sink
from models.vision.faces import Faces, direction_of, rotation_of
from models.vision.persons import Persons
from pipeline.errors import PerceptError
from pipeline.packet import FramePacket


def face(yaw, pitch, roll, gaze=None, size=100.0):
    entry = {"bbox": [0, 0, size, size], "score": 0.9,
             "head_pose": {"rotation": rotation_of(yaw, pitch, roll).tolist()}, "gaze": None}
    if gaze is not None:
        entry["gaze"] = {"direction": direction_of(*gaze).tolist()}
    return entry


def line(frame, faces, source_name=None):
    return FrameResult.from_json({"frame": frame, "source_name": source_name,
                                  "persons": [{"bbox": [0, 0, 10, 10], "score": 0.9, "face": f} for f in faces]})


def test_scoring_head_and_gaze(tmp_path):
    labels = [FaceLabel(tmp_path / "a.jpg", rotation_of(10, 0, 0), direction_of(0, 0)),
              FaceLabel(tmp_path / "b.jpg", rotation_of(0, 5, 0), direction_of(10, 0)),
              FaceLabel(tmp_path / "c.jpg", rotation_of(0, 0, 0), direction_of(0, 0))]
    records = {0: line(0, [face(-40, 0, 0, (30, 0), size=20), face(14, 0, 0, (0, 3))]),
               1: line(1, [face(0, 3, 1, (10, 0))]), 2: line(2, [None])}
    assert largest_face(records[0]) == 1 and largest_face(records[2]) is None
    head = score(labels, records, "head")
    assert (head["labelled"], head["scored"], head["missed"]) == (3, 2, 1)
    assert head["mae"]["yaw"] == pytest.approx(2.0, abs=1e-3) and head["mae"]["pitch"] == pytest.approx(1.0, abs=1e-3)
    assert head["mae"]["roll"] == pytest.approx(0.5, abs=1e-3)
    assert head["mean_angular_error"] == pytest.approx((4.0 + np.hypot(2, 1)) / 2, abs=0.02)
    gaze = score(labels, records, "gaze")
    assert gaze["mean_angular_error"] == pytest.approx(1.5, abs=1e-3)
    assert gaze["mae"] == pytest.approx({"yaw": 0.0, "pitch": 1.5}, abs=1e-3)


def _packet(seq: int, name: str, yaw: float) -> FramePacket:
    faces = Faces(np.array([True, False]), np.array([[5, 5, 55, 65], [0, 0, 1, 1]], np.float32),
                  np.array([0.9, 0.0], np.float32), head_rotation=np.stack([rotation_of(yaw, 0, 0), np.eye(3)]),
                  gaze=np.stack([direction_of(yaw, 0), np.full(3, np.nan)]))
    persons = Persons(np.array([[0, 0, 100, 100], [200, 0, 300, 100]], np.float32), np.array([0.9, 0.8]),
                      faces=faces)
    packet = FramePacket(seq, seq / 30.0, np.zeros((8, 8, 3), np.uint8), source_name=name)
    packet.data["persons"] = persons
    return packet


def test_face_eval_reads_the_file_results_sink_writes(tmp_path):
    path = tmp_path / "results.jsonl"
    sink = results_sink(path)
    sink.open({})
    for n, (name, yaw) in enumerate((("a.jpg", 10.0), ("other.jpg", 0.0), ("b.jpg", -20.0))):
        sink.write(_packet(n, name, yaw))
    sink.close()
    labels = [FaceLabel(tmp_path / "x" / "b.jpg", rotation_of(-20, 0, 0), direction_of(-20, 0)),
              FaceLabel(tmp_path / "x" / "a.jpg", rotation_of(12, 0, 0), direction_of(10, 0))]
    matched = read_results(path, labels)
    assert sorted(matched) == [0, 1] and matched[0].source_name == "b.jpg" and largest_face(matched[0]) == 0
    head = score(labels, matched, "head")
    assert (head["scored"], head["missed"]) == (2, 0)
    assert head["mae"]["yaw"] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(PerceptError, match="two labelled images"):
        read_results(path, labels + [FaceLabel(tmp_path / "y" / "a.jpg")])
    with pytest.raises(PerceptError, match="not found"):
        read_results(tmp_path / "nope.jsonl", labels)


def test_exporters_see_the_record_in_the_file(tmp_path):
    path = tmp_path / "results.jsonl"
    packets = [_packet(0, "a.jpg", 5.0), FramePacket(1, 1 / 30.0, np.zeros((8, 8, 3), np.uint8))]  # 2nd: no stage
    sink = results_sink(path)
    sink.open({})
    for packet in packets:
        sink.write(packet)
    sink.close()
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert lines == [json.loads(json.dumps(record_of(p))) for p in packets]
    assert lines[1]["persons"] == [] and lines[1]["objects"] == []  # the defaults, in the file and the record
    seen = LastFrameResult()
    for packet, result in zip(packets, read_result_lines(path)):
        assert seen.of(packet).to_json() == result.to_json()
