"""Result types and the one reader of results.jsonl: ``to_json`` -> JSON -> ``from_json`` gives the same arrays
(within to_json's rounding) and the same JSON again; a bad line is one clear PerceptError naming it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.results import FrameResult, read_results
from models.vision.detections import Detections
from models.vision.keypoints import COCO17_NAMES
from models.vision.persons import Persons
from pipeline.errors import PerceptError

LABELS = ("background", "wave", "squat")


def _persons() -> Persons:
    rng = np.random.default_rng(0)
    n, k = 3, len(COCO17_NAMES)
    kps = np.concatenate([rng.uniform(0, 640, (n, k, 2)), rng.uniform(0, 1, (n, k, 1))], axis=2)
    kps[1, 4] = np.nan  # a keypoint the model did not give
    kp3 = rng.uniform(-2, 4, (n, k, 3))
    kp3[0, 3] = np.nan  # no depth at one keypoint
    kp3[2, 7, 2] = np.nan  # one coordinate unknown: the whole entry is written null
    pos = rng.uniform(0.5, 4, (n, 3))
    pos[1] = np.nan
    probs = rng.dirichlet(np.ones(len(LABELS)), n)
    boxes = np.array([[10.123, 20.5, 110.25, 300.0], [200, 40, 260.333, 220], [400, 50, 500, 330]])
    return Persons(boxes, np.array([0.91234, 0.5, 0.77777]), np.array([4, -1, 12]), keypoints=kps,
                   keypoint_names=COCO17_NAMES, keypoints_3d=kp3, positions_3d=pos, action_probs=probs,
                   action_labels=LABELS)


def _through_json(value):
    return json.loads(json.dumps(value))


def test_persons_round_trip():
    persons = _persons()
    written = _through_json(persons.to_json())
    back = Persons.from_json(written)
    assert back.keypoint_names == COCO17_NAMES and back.action_labels == LABELS
    np.testing.assert_array_equal(back.track_ids, [4, -1, 12])
    np.testing.assert_allclose(back.boxes, persons.boxes, atol=0.005)
    np.testing.assert_allclose(back.scores, persons.scores, atol=5e-5)
    np.testing.assert_allclose(back.keypoints, persons.keypoints, atol=5e-4, equal_nan=True)
    assert np.isnan(back.keypoints[1, 4]).all() and np.isfinite(back.keypoints[0]).all()
    expected_3d = persons.keypoints_3d.copy()
    expected_3d[2, 7] = np.nan  # to_json writes an entry with a NaN coordinate as null
    np.testing.assert_allclose(back.keypoints_3d, expected_3d, atol=5e-5, equal_nan=True)
    assert np.isnan(back.keypoints_3d[0, 3]).all() and np.isnan(back.keypoints_3d[2, 7]).all()
    np.testing.assert_allclose(back.positions_3d, persons.positions_3d, atol=5e-5, equal_nan=True)
    assert np.isnan(back.positions_3d[1]).all()
    np.testing.assert_allclose(back.action_probs, persons.action_probs, atol=5e-5)
    assert _through_json(back.to_json()) == written


def test_persons_subsets_and_empty_round_trip():
    persons = _persons()
    plain = Persons(persons.boxes, persons.scores, persons.track_ids)  # detector only: no keypoints, no 3D
    back = Persons.from_json(_through_json(plain.to_json()))
    assert back.keypoints is None and back.keypoints_3d is None and back.positions_3d is None
    assert back.action_probs is None and back.to_json() == _through_json(plain.to_json())
    assert len(Persons.from_json([])) == 0 and len(Persons.from_json(None)) == 0
    # the anticipated actions hold only each step's best class: they are not restored, the rest is
    future = Persons(persons.boxes, persons.scores, persons.track_ids, action_probs=persons.action_probs,
                     action_labels=LABELS, action_future=np.tile(persons.action_probs[:, None], (1, 2, 1)))
    written = _through_json(future.to_json())
    assert "anticipated" in written[0]["action"]
    back = Persons.from_json(written)
    assert back.action_future is None
    np.testing.assert_allclose(back.action_probs, future.action_probs, atol=5e-5)
    for rec in written:
        del rec["action"]["anticipated"]
    assert back.to_json() == written


def test_persons_from_json_names_what_is_wrong():
    written = _through_json(_persons().to_json())
    written[1]["keypoints"] = None
    with pytest.raises(ValueError, match=r"persons\[1\] has no keypoints while persons\[0\] has"):
        Persons.from_json(written)
    written = _through_json(_persons().to_json())
    written[2]["keypoints"]["nose"] = [1, 2]
    with pytest.raises(ValueError, match=r"persons\[2\]\.keypoints\.nose must be a list of 3 numbers"):
        Persons.from_json(written)


def test_detections_round_trip():
    dets = Detections(np.array([[1.111, 2.222, 30.5, 40.25], [5, 6, 70, 80], [0, 0, 9.999, 9.999]]),
                      np.array([0.912345, 0.5, 0.25]), np.array([2, 0, 7]), ("person", "bicycle", "car"),
                      np.array([-1, 3, 8]))
    written = _through_json(dets.to_json())
    assert [d["label"] for d in written] == ["car", "person", "7"]
    back = Detections.from_json(written)
    np.testing.assert_allclose(back.boxes, dets.boxes, atol=0.005)
    np.testing.assert_allclose(back.scores, dets.scores, atol=5e-5)
    np.testing.assert_array_equal(back.class_ids, dets.class_ids)
    np.testing.assert_array_equal(back.track_ids, dets.track_ids)
    assert back.class_names[0] == "person" and back.class_names[2] == "car"
    assert _through_json(back.to_json()) == written
    assert Detections.from_json(written, ("person", "bicycle", "car")).class_names == dets.class_names
    assert len(Detections.from_json([])) == 0


def _line(frame: int, **extra) -> dict:
    return {"frame": frame, "timestamp": frame / 30, "source_name": "clip.mp4", "width": 640, "height": 480,
            "persons": _persons().to_json(), "objects": [], **extra, "latency_ms": {"pose": 1.5}, "errors": []}


def test_read_results_reads_every_line_back(tmp_path):
    path = tmp_path / "results.jsonl"
    lines = [_line(0), _line(1, faces=[{"x": 1}]), _line(2)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"frame": 3, "timest')  # cut short
    results = list(read_results(path))
    assert [r.frame for r in results] == [0, 1, 2]
    assert isinstance(results[0].persons, Persons) and len(results[0].persons) == 3
    assert isinstance(results[0].objects, Detections) and len(results[0].objects) == 0
    assert results[1].extra == {"faces": [{"x": 1}]} and results[0].extra == {}
    assert results[2].latency_ms == {"pose": 1.5} and results[2].source_name == "clip.mp4"
    assert [_through_json(r.to_json()) for r in results] == _through_json(lines)
    assert FrameResult.from_json({"frame": 5}).persons.to_json() == []


@pytest.mark.parametrize("bad, message", [
    ("{not json\n", r":2: not a JSON result line \(.*\); expected the results\.jsonl of `percept run --headless`"),
    ('{"timestamp": 1.0}\n', r":2: not a result line \(no 'frame'\); expected the results\.jsonl"),
    ('{"frame": 1, "persons": [{"bbox": [1, 2, 3], "score": 0.5}]}\n',
     r":2: persons\[0\]\.bbox must be a list of 4 numbers.*; expected the results\.jsonl"),
])
def test_read_results_bad_line_is_one_line_error_naming_it(tmp_path, bad, message):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(_line(0)) + "\n" + bad + json.dumps(_line(2)) + "\n")
    with pytest.raises(PerceptError, match=message) as info:
        list(read_results(path))
    text = str(info.value)
    assert text.startswith(f"{path}:2: ") and "\n" not in text


def test_read_results_missing_file(tmp_path):
    with pytest.raises(PerceptError, match=r"results file .*nope\.jsonl not found"):
        read_results(tmp_path / "nope.jsonl")  # at the call, before any line is read
