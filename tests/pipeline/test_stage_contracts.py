"""Stage contracts down to fields (pipeline/keys.py): the graph orders stages by the keys and fields they declare,
runs stages on different fields of one value side by side, refuses a graph where nothing produces a declared
input, and the engine keeps only what a stage declared it writes."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pytest
import yaml

from pipeline import keys
from pipeline.errors import ConfigError
from pipeline.graph import Graph, parse_graph_config
from pipeline.registry import register_stage
from pipeline.one_stream import OneStreamRun, RunOptions
from pipeline.stage import Stage
from tests.pipeline.helpers import CountingSource


@dataclass(frozen=True)
class Crowd:
    """A struct-of-arrays value with two separately written fields."""

    ids: np.ndarray
    a: np.ndarray | None = None
    a_note: str = ""
    b: np.ndarray | None = None

    PARTS: ClassVar[dict[str, tuple[str, ...]]] = {"rows": ("ids",), "a": ("a", "a_note"), "b": ("b",)}

    def __len__(self) -> int:
        return len(self.ids)


OVERLAP = {"now": 0, "max": 0}
_lock = threading.Lock()


def _busy(seconds: float) -> None:
    with _lock:
        OVERLAP["now"] += 1
        OVERLAP["max"] = max(OVERLAP["max"], OVERLAP["now"])
    time.sleep(seconds)
    with _lock:
        OVERLAP["now"] -= 1


@register_stage
class MakeCrowd(Stage):
    type_name = "test_make_crowd"
    inputs = ("color",)
    outputs = ("crowd",)

    def process(self, packet):
        return {"crowd": Crowd(np.arange(3))}


@register_stage
class WriteA(Stage):
    """Writes a field of the crowd it finds: a field writer waits for the value's maker without saying so."""

    type_name = "test_write_a"
    inputs = ("color",)
    outputs = ("crowd.a",)

    def process(self, packet):
        _busy(0.03)
        crowd = packet.get("crowd")
        # also touches b, which it did not declare: the engine must not take that
        return {"crowd": replace(crowd, a=crowd.ids * 10, a_note="from a", b=np.full(len(crowd), -1))}


@register_stage
class WriteB(Stage):
    type_name = "test_write_b"
    inputs = ("color",)
    outputs = ("crowd.b",)

    def process(self, packet):
        _busy(0.03)
        crowd = packet.get("crowd")
        if crowd is None:  # first in the graph: it makes the value
            return {"crowd": Crowd(np.arange(2), b=np.ones(2))}
        return {"crowd": replace(crowd, b=crowd.ids + 100)}


@register_stage
class ReadA(Stage):
    type_name = "test_read_a"
    inputs = ("crowd.a",)
    outputs = ("a_sum",)

    def process(self, packet):
        return {"a_sum": int(packet.get("crowd").a.sum())}


@register_stage
class DropRowsPretendingField(Stage):
    type_name = "test_bad_field_writer"
    inputs = ("crowd",)
    outputs = ("crowd.b",)

    def process(self, packet):
        crowd = packet.get("crowd")
        return {"crowd": Crowd(crowd.ids[:1], b=np.zeros(1))}


@register_stage
class CountRows(Stage):
    """Needs the rows only (as a tracker needs boxes): it does not wait for the stages that add fields."""

    type_name = "test_count_rows"
    inputs = ("crowd.rows",)
    outputs = ("row_count",)

    def process(self, packet):
        return {"row_count": len(packet.get("crowd"))}


@register_stage
class ReadWhole(Stage):
    """Reads the whole value: it sees every field the stages before it wrote."""

    type_name = "test_read_whole"
    inputs = ("crowd",)
    outputs = ("seen",)

    def process(self, packet):
        crowd = packet.get("crowd")
        return {"seen": (crowd.a is not None, crowd.b is not None)}


@register_stage
class FlakyMakeCrowd(Stage):
    type_name = "test_flaky_make_crowd"
    inputs = ("color",)
    outputs = ("crowd",)

    def process(self, packet):
        if packet.seq == 1:
            raise RuntimeError("detector failed")
        return {"crowd": Crowd(np.arange(3))}


@register_stage
class UsesCrowdIfAny(Stage):
    """Like face_mesh: uses the people where the graph has a person stage, works alone where it has none."""

    type_name = "test_uses_crowd_if_any"
    inputs = ("color",)
    optional_inputs = ("crowd.rows",)
    outputs = ("used",)

    def process(self, packet):
        crowd = packet.get("crowd")
        return {"used": "alone" if crowd is None else len(crowd)}


def graph(*stages: tuple[str, str]) -> Graph:
    return Graph.from_config(parse_graph_config({"stages": [{"name": n, "type": t} for n, t in stages]}))


def run(g: Graph, n: int = 5):
    results = []
    report = OneStreamRun(g, RunOptions(mode="offline")).run(CountingSource(n), on_result=results.append)
    return report, results


def test_writers_of_different_fields_are_not_ordered_and_readers_wait_for_theirs():
    g = graph(("make", "test_make_crowd"), ("a", "test_write_a"), ("b", "test_write_b"), ("read", "test_read_a"))
    assert g.nodes["a"].parents == ["make"] and g.nodes["b"].parents == ["make"]
    assert g.nodes["read"].parents == ["a"]  # not b: it reads crowd.a only


def test_both_fields_arrive_and_only_the_declared_ones():
    OVERLAP["max"] = 0
    report, results = run(graph(("make", "test_make_crowd"), ("a", "test_write_a"), ("b", "test_write_b"),
                                ("read", "test_read_a")))
    assert report.frames_done == 5 and not any(p.errors for p in results)
    for p in results:
        crowd = p.get("crowd")
        assert crowd.a.tolist() == [0, 10, 20] and crowd.a_note == "from a"  # every attribute of the field
        assert crowd.b.tolist() == [100, 101, 102]  # b's own value, not a's undeclared -1s
        assert p.get("a_sum") == 30
    assert OVERLAP["max"] >= 2  # a and b ran at the same time on a frame


def test_a_field_writer_with_nothing_before_it_makes_the_value():
    g = graph(("b", "test_write_b"), ("a", "test_write_a"))
    assert g.nodes["a"].parents == ["b"]  # after the crowd's maker
    _, results = run(g, 2)
    assert results[0].get("crowd").b.tolist() == [1, 1] and results[0].get("crowd").a.tolist() == [0, 10]


def test_a_missing_field_producer_is_an_error_at_build():
    with pytest.raises(ConfigError, match=r"stage 'read' needs input 'crowd.a' which no earlier stage produces; "
                                          r"no stage in this graph produces it: add one of type test_write_a"):
        graph(("make", "test_make_crowd"), ("b", "test_write_b"), ("read", "test_read_a"))


def test_a_whole_write_waits_for_field_readers_and_rewrites_every_field():
    g = graph(("make", "test_make_crowd"), ("a", "test_write_a"), ("read", "test_read_a"),
              ("remake", "test_make_crowd"), ("read2", "test_read_a"))
    assert set(g.nodes["remake"].parents) == {"make", "a", "read"}
    # the new rows carry (or drop) crowd.a: its writer now (and read, which also writes a_sum)
    assert set(g.nodes["read2"].parents) == {"remake", "read"}


def test_a_field_writer_waits_for_earlier_readers_of_the_whole_value():
    g = graph(("make", "test_make_crowd"), ("bad", "test_bad_field_writer"), ("b", "test_write_b"))
    assert set(g.nodes["b"].parents) == {"make", "bad"}  # bad reads "crowd" whole (and writes crowd.b)


def test_a_rows_reader_waits_for_the_maker_only_and_a_whole_reader_for_every_field_before_it():
    g = graph(("make", "test_make_crowd"), ("a", "test_write_a"), ("count", "test_count_rows"),
              ("b", "test_write_b"), ("whole", "test_read_whole"))
    assert g.nodes["count"].parents == ["make"]  # not a: it reads the rows, not crowd.a
    assert g.nodes["b"].parents == ["make"]  # a rows reader holds back no field writer
    assert set(g.nodes["whole"].parents) == {"make", "a", "b"}
    _, results = run(g, 3)
    assert all(p.get("row_count") == 3 and p.get("seen") == (True, True) for p in results)


def test_rows_are_written_by_whoever_makes_the_value():
    g = graph(("b", "test_write_b"), ("count", "test_count_rows"))  # b makes the crowd: its rows
    assert g.nodes["count"].parents == ["b"]
    with pytest.raises(ConfigError, match=r"needs input 'crowd.rows' which no earlier stage produces; stages that "
                                          r"produce it: make \(move one before 'count'\)"):
        graph(("count", "test_count_rows"), ("make", "test_make_crowd"))


def test_an_optional_input_whose_maker_failed_on_the_frame_skips_the_stage():
    _, results = run(graph(("make", "test_flaky_make_crowd"), ("use", "test_uses_crowd_if_any")), 3)
    assert [p.get("used") for p in results] == [3, None, 3]  # never "alone" in a graph that has a maker
    assert [e["stage"] for e in results[1].errors] == ["make", "use"]
    assert "skipped: input 'crowd' missing" in results[1].errors[1]["error"]
    _, alone = run(graph(("use", "test_uses_crowd_if_any")), 2)
    assert [p.get("used") for p in alone] == ["alone", "alone"] and not any(p.errors for p in alone)


def test_a_switched_off_maker_leaves_the_optional_reader_working_alone():
    """The UI's stage switch: pose off, face_mesh runs on the whole image (as in a graph without pose)."""
    from pipeline.engine import Engine, StreamOptions
    from pipeline.sinks.memory import ListSink

    engine = Engine(graph(("make", "test_flaky_make_crowd"), ("use", "test_uses_crowd_if_any")), device="cpu")
    try:
        engine.set_enabled("make", False)
        sink = ListSink()
        engine.open_stream(CountingSource(2), [sink], StreamOptions()).run_to_end()
    finally:
        engine.close()
    assert [p.get("used") for p in sink.packets] == ["alone", "alone"] and not any(p.errors for p in sink.packets)


def test_a_detail_needs_a_stage_that_declares_it_and_orders_as_its_field():
    from app.command_setup import load_builtin_stages

    load_builtin_stages()
    stages = [{"name": "pose", "type": "tracked_pose"}, {"name": "face", "type": "face_mesh"},
              {"name": "target", "type": "gaze_target"}]
    with pytest.raises(ConfigError, match=r"stage 'target' needs input 'persons.faces.gaze' which no earlier stage "
                                          r"produces; no stage in this graph produces it: add one of type "
                                          r"head_gaze, learned_gaze before 'target'"):
        Graph.from_config(parse_graph_config({"stages": stages}))
    g = Graph.from_config(parse_graph_config({"stages": stages[:2] + [{"name": "head", "type": "head_gaze"}]
                                              + stages[2:]}))
    assert set(g.nodes["target"].parents) == {"head", "pose"}  # the gaze (a detail of faces), the track ids
    learned = {"name": "gaze", "type": "learned_gaze", "params": {"model": "any.onnx", "frame": "head"}}
    with pytest.raises(ConfigError, match=r"needs input 'persons.faces.head_rotation' .* add one of type head_gaze"):
        Graph.from_config(parse_graph_config({"stages": stages[:2] + [learned]}))


def test_the_missing_producer_hint_names_makers_not_stages_that_need_the_value_too():
    from app.command_setup import load_builtin_stages

    load_builtin_stages()
    with pytest.raises(ConfigError) as err:
        Graph.from_config(parse_graph_config({"stages": [{"name": "t", "type": "tracker"},
                                                         {"name": "p", "type": "pose"}]}))
    message = str(err.value)
    assert "needs input 'persons.rows'" in message and "tracked_pose" in message
    assert "stages that produce it: p" not in message and " pose," not in message  # pose needs persons itself


def test_any_value_is_its_own_rows():
    assert keys.has_part(object(), keys.ROWS) and not keys.has_part(None, keys.ROWS)
    assert keys.split("persons.faces.gaze") == ("persons", "faces") and keys.is_detail("persons.faces.gaze")
    assert keys.writes(("persons.faces", "persons.faces.gaze")) == {"persons": ("faces",)}


def test_a_field_writer_that_changes_rows_is_an_error_on_the_frame():
    _, results = run(graph(("make", "test_make_crowd"), ("bad", "test_bad_field_writer")), 2)
    assert all("changed the rows (3 -> 1)" in p.errors[0]["error"] for p in results)
    assert len(results[0].get("crowd")) == 3


def test_merge_rules():
    assert keys.split("persons.faces") == ("persons", "faces") and keys.split("depth") == ("depth", None)
    assert keys.writes(("persons", "persons.keypoints")) == {"persons": None}
    assert keys.writes(("persons.faces", "persons.actions", "depth")) == {"persons": ("faces", "actions"),
                                                                          "depth": None}
    crowd = Crowd(np.arange(2))
    assert not keys.has_part(crowd, "a") and keys.has_part(replace(crowd, a=np.zeros(2)), "a")


def test_shipped_default_graph_runs_face_action_and_depth_side_by_side():
    from app.command_setup import load_builtin_stages
    from pipeline.graph import load_graph_config
    from pipeline.paths import asset

    load_builtin_stages()
    g = Graph.from_config(load_graph_config(asset("graphs", "default.yaml")))
    assert g.nodes["face"].parents == ["pose"] and g.nodes["action"].parents == ["pose"]
    assert set(g.nodes["depth"].parents) == {"pose", "register_depth"}
    assert "face" in g.nodes["head_gaze"].parents and "head_gaze" in g.nodes["gaze_target"].parents
    listed = [n["name"] for n in yaml.safe_load(asset("graphs", "default.yaml").read_text())["stages"]]
    assert g.order == listed  # the stage table and metrics read like the file wherever dependencies allow


def test_shipped_fast_graph_tracks_beside_the_3d_lifting():
    from app.command_setup import load_builtin_stages
    from pipeline.graph import load_graph_config
    from pipeline.paths import asset

    load_builtin_stages()
    g = Graph.from_config(load_graph_config(asset("graphs", "pose_fast.yaml")))
    assert g.nodes["tracker"].parents == ["people"]  # persons.rows: boxes and scores
    assert set(g.nodes["depth"].parents) == {"people", "register_depth"}  # not the tracker
    assert set(g.nodes["action"].parents) == {"people", "tracker"}


def test_percept_stages_lists_the_declared_fields(capsys):
    from app.cli import main

    assert main(["stages"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "in: color  optional: persons.keypoints, persons.track_ids  out: persons.faces" in lines["face_mesh"]
    assert "in: persons.keypoints, persons.track_ids  out: persons.actions" in lines["online_action"]
