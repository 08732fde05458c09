"""Graph validation: every mistake is one clear error naming the stage and the valid choices."""
from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.graph import Graph, load_graph_config, parse_graph_config
import tests.pipeline.helpers  # noqa: F401  (registers test stages)


def build(stages):
    return Graph.from_config(parse_graph_config({"stages": stages}))


def test_unknown_stage_type_lists_valid_types():
    with pytest.raises(ConfigError, match=r"stage 'x': unknown stage type 'nope'; valid types: .*test_sleep"):
        build([{"name": "x", "type": "nope"}])


def test_unknown_stage_key_names_stage():
    with pytest.raises(ConfigError, match=r"stage 'x': unknown key 'wrkers'.*valid keys: name, type"):
        build([{"name": "x", "type": "test_sleep", "wrkers": 2}])


def test_unknown_param_lists_valid_params():
    with pytest.raises(ConfigError, match=r"stage 'x' \(test_sleep\): unknown key 'msec'.*valid parameters: ms"):
        build([{"name": "x", "type": "test_sleep", "params": {"msec": 3}}])


def test_missing_input_names_the_producer():
    with pytest.raises(ConfigError, match=r"stage 'b' needs input 'a'.*produce it: a \(move one before 'b'\)"):
        build([{"name": "b", "type": "test_sleep", "params": {"key": "b", "needs": "a"}},
               {"name": "a", "type": "test_sleep", "params": {"key": "a"}}])


def test_cycle_is_reported():
    with pytest.raises(ConfigError, match="cycle"):
        build([{"name": "a", "type": "test_sleep", "params": {"key": "a"}, "after": ["b"]},
               {"name": "b", "type": "test_sleep", "params": {"key": "b", "needs": "a"}}])


def test_duplicate_names_and_workers_on_stateful_stage():
    with pytest.raises(ConfigError, match="used twice"):
        build([{"name": "a", "type": "test_sleep"}, {"name": "a", "type": "test_sleep"}])
    with pytest.raises(ConfigError, match="workers > 1 needs a stateless"):
        build([{"name": "a", "type": "test_sleep", "workers": 2}])


def test_writer_waits_for_earlier_readers():
    g = build([{"name": "w1", "type": "test_sleep", "params": {"key": "k"}},
               {"name": "r", "type": "test_sleep", "params": {"key": "r", "needs": "k"}},
               {"name": "w2", "type": "test_sleep", "params": {"key": "k"}}])
    assert set(g.nodes["w2"].parents) == {"w1", "r"}


def test_yaml_errors(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("stages: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_graph_config(bad)
    with pytest.raises(ConfigError, match="graph file not found"):
        load_graph_config(tmp_path / "missing.yaml")
    bad.write_text("stages: []\nmood: live\n")
    with pytest.raises(ConfigError, match="unknown key 'mood'"):
        load_graph_config(bad)
