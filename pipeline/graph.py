"""Graph description (YAML or Python), validation, and dependency resolution.

Dependencies are inferred from the keys and fields stages declare (pipeline/keys.py; the rules are in
``Graph._resolve_edges`` and docs/graphs.md): a reader waits for the writers of what it reads (of every field,
for a whole value), a writer for the earlier readers and writers of what it writes (so a branch never sees a
result from a later stage); stages touching different fields of one value run side by side. ``after`` adds
explicit edges.
Everything is checked before anything starts, and every problem is reported in one line that names the stage and
the valid choices.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import keys, modes
from pipeline.errors import ConfigError
from pipeline.registry import get_stage_type, stage_types
from pipeline.stage import Stage

SOURCE_KEYS = ("color", "depth", "right")
STAGE_WRITABLE_SOURCE_KEYS = ("depth",)  # stereo matching and depth registration write depth


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    workers: int | None = Field(default=None, ge=1, le=64)
    on_error: Literal["skip", "stop"] = "skip"
    after: list[str] = Field(default_factory=list)


class GraphConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal[modes.LIVE, modes.OFFLINE] | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=256)
    stages: list[StageConfig] = Field(default_factory=list)
    # what `percept run` also writes beside results.jsonl (names the app resolves: rerun, mcap, coco, mot)
    exports: list[str] = Field(default_factory=list)


@dataclass
class Node:
    """A stage placed in a graph."""

    name: str
    stage: Stage
    workers: int = 1
    on_error: str = "skip"
    after: tuple[str, ...] = ()
    # (value, its maker) behind optional inputs that an earlier stage makes: missing on a frame where the maker
    # was not switched off, the maker failed there, and the stage is skipped rather than run as if the graph had
    # no such stage (switched off, it runs as without one: face_mesh on the whole image with pose off)
    expects: tuple[tuple[str, str], ...] = ()
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def missing_inputs(self, packet: Any, switched_off: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """What ``packet`` lacks for this stage to run on it: a needed input, or the value behind an optional
        one whose maker ran on the frame (was not switched off) and left nothing (it failed there)."""
        missing = [k for k in self.stage.inputs if not packet.has(k)]
        return missing + [k for k, maker in self.expects if maker not in switched_off and not packet.has(k)]

    @property
    def ordered(self) -> bool:
        """Stateful stages see frames strictly in order, one at a time."""
        return not type(self.stage).stateless or self.workers == 1


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def load_graph_config(path: str | Path) -> GraphConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"graph file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"graph file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    config = parse_graph_config({} if raw is None else raw, str(path))
    if not config.stages:
        raise ConfigError(f"graph file {path} has no stages; list at least one under 'stages:' "
                          f"(e.g. assets/graphs/default.yaml; `percept stages` lists the types)")
    return config


def parse_graph_config(raw: Any, where: str = "graph") -> GraphConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with 'stages', got {type(raw).__name__}")
    stages = raw.get("stages", [])
    if stages is None:  # "stages:" with nothing under it
        stages = []
        raw = {**raw, "stages": stages}
    if not isinstance(stages, list):
        raise ConfigError(f"{where}: 'stages' must be a list")
    for i, st in enumerate(stages):
        if not isinstance(st, dict):
            raise ConfigError(f"{where}: stage #{i + 1} must be a mapping with name and type")
        label = st.get("name") or f"#{i + 1}"
        try:
            StageConfig.model_validate(st)
        except ValidationError as exc:
            valid = ", ".join(StageConfig.model_fields)
            raise ConfigError(f"{where}: stage {label!r}: {_first_error(exc)} (valid keys: {valid})") from exc
    try:
        return GraphConfig.model_validate(raw)
    except ValidationError as exc:
        valid = ", ".join(GraphConfig.model_fields)
        raise ConfigError(f"{where}: {_first_error(exc)} (valid keys: {valid})") from exc


def instantiate_stage(cfg: StageConfig) -> Stage:
    cls = get_stage_type(cfg.type, where=f"stage {cfg.name!r}")
    try:
        params = cls.Params.model_validate(cfg.params)
    except ValidationError as exc:
        valid = ", ".join(cls.Params.model_fields) or "(none)"
        raise ConfigError(
            f"stage {cfg.name!r} ({cfg.type}): {_first_error(exc)} (valid parameters: {valid})") from exc
    return cls(params)


def _field_keys(declared: tuple[str, ...]) -> list[str]:
    """Declared keys as the keys and fields they order by (a detail is its field), each once."""
    return list(dict.fromkeys(keys.field_key(k) for k in declared))


def _producer_hint(nodes: list[Node], node: Node, key: str) -> str:
    """What to do about a missing input: which other stages create ``key`` (and could move before ``node``); never
    ``node`` itself, nor stages that only update it (they read it too, so moving them would not help)."""
    base = keys.split(key)[0]
    writers = [n for n in nodes if n is not node and keys.produces(n.stage.outputs, key)]
    creators = sorted(n.name for n in writers if key not in n.stage.inputs and base not in n.stage.inputs)
    if creators:
        return f"; stages that produce it: {', '.join(creators)} (move one before {node.name!r})"
    updaters = sorted(n.name for n in writers) + ([node.name] if keys.produces(node.stage.outputs, key) else [])
    said = (f"; {', '.join(updaters)} only update it (they read it too)" if updaters
            else "; no stage in this graph produces it")
    types = sorted(name for name, cls in stage_types().items()
                   if keys.produces(getattr(cls, "outputs", ()), key)
                   and not {key, base} & set(getattr(cls, "inputs", ())))
    if types:
        return f"{said}: add one of type {', '.join(types)} before {node.name!r}"
    return f"{said}: add a stage that produces it before {node.name!r}" if updaters else said


class Graph:
    """Validated stages with their dependency edges, in a topological order."""

    def __init__(self, nodes: list[Node], mode: str | None = None, max_in_flight: int | None = None) -> None:
        self.mode = mode
        self.max_in_flight = max_in_flight
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.name in self.nodes:
                raise ConfigError(f"stage name {node.name!r} is used twice; stage names must be unique")
            if node.workers > 1 and not type(node.stage).stateless:
                raise ConfigError(f"stage {node.name!r}: workers > 1 needs a stateless stage type "
                                  f"({type(node.stage).type_name or type(node.stage).__name__} keeps state)")
            self.nodes[node.name] = node
        self._resolve_edges(nodes)
        self.order = self._topological_order()

    @classmethod
    def from_config(cls, config: GraphConfig) -> "Graph":
        nodes = []
        for sc in config.stages:
            stage = instantiate_stage(sc)
            default_workers = 2 if type(stage).stateless else 1
            nodes.append(Node(sc.name, stage, sc.workers or default_workers, sc.on_error, tuple(sc.after)))
        return cls(nodes, config.mode, config.max_in_flight)

    @classmethod
    def from_stages(cls, stages: list[Stage | tuple[str, Stage]], mode: str | None = None) -> "Graph":
        """Build from Python: stages in order, optionally as (name, stage) pairs."""
        nodes = []
        for i, item in enumerate(stages):
            name, stage = item if isinstance(item, tuple) else (f"{type(item).type_name or 'stage'}{i}", item)
            nodes.append(Node(name, stage))
        return cls(nodes, mode)

    def _resolve_edges(self, nodes: list[Node]) -> None:
        """Edges from the declared keys (pipeline/keys.py), in the order the stages are listed:
        - a stage reading a field waits for its last writer, one reading a whole value for its maker and every
          field's last writer (``key.rows``: the rows alone, written by the maker); a field nobody wrote is an error;
        - a stage writing a field waits for the field's last writer and readers, for whoever made the value
          (its rows), and for stages that read the whole value; the first to write a field of a value nobody
          made makes it;
        - a stage writing a whole value (new rows) waits for every earlier reader and writer of it and of its
          fields, and counts as writing every field the value has by then.
        Stages reading or writing different fields of one value are thus not ordered: they run side by side.
        A detail (``persons.faces.gaze``) orders as its field; reading one needs an earlier stage declaring it."""
        details: set[str] = set()  # details written so far
        last_writer: dict[str, str] = {}
        whole_readers: dict[str, list[str]] = {}  # read the whole value ("persons")
        field_readers: dict[str, list[str]] = {}  # read a field, or a field's value (rows only)
        fields: dict[str, set[str]] = {}  # base -> field keys written so far
        for node in nodes:
            stage = node.stage
            for key in stage.inputs:
                if keys.is_detail(key) and key not in details:
                    raise ConfigError(f"stage {node.name!r} needs input {key!r} which no earlier stage "
                                      f"produces{_producer_hint(nodes, node, key)}")
            details.update(k for k in stage.outputs if keys.is_detail(k))
            inputs, outputs = _field_keys(stage.inputs), _field_keys(stage.outputs)
            optional_inputs = _field_keys(stage.optional_inputs)
            deps: list[str] = []
            for key in inputs:
                base, part = keys.split(key)
                if part is None and key in SOURCE_KEYS:
                    deps += [last_writer[key]] if key in last_writer else []
                    continue
                if key not in last_writer:
                    raise ConfigError(f"stage {node.name!r} needs input {key!r} which no earlier stage "
                                      f"produces{_producer_hint(nodes, node, key)}")
                deps.append(last_writer[key])
                if part is None:  # the whole value, as every earlier stage left it
                    deps += [last_writer[k] for k in fields.get(base, ())]
            for key in optional_inputs:
                base, part = keys.split(key)
                if key in last_writer:
                    deps.append(last_writer[key])
                    if base not in SOURCE_KEYS and all(b != base for b, _ in node.expects):
                        node.expects += ((base, last_writer[base]),)
                if part is None and key not in SOURCE_KEYS:
                    deps += [last_writer[k] for k in fields.get(key, ())]
            for key in outputs:
                base, part = keys.split(key)
                if part is None and key in SOURCE_KEYS and key not in STAGE_WRITABLE_SOURCE_KEYS:
                    raise ConfigError(f"stage {node.name!r} may not output {key!r}: it is provided by the source")
                if part is None:
                    for k in (base, *fields.get(base, ())):
                        deps += [last_writer[k]] if k in last_writer else []
                        deps += whole_readers.get(k, []) + field_readers.get(k, [])
                else:
                    deps += [last_writer[k] for k in (key, base) if k in last_writer]
                    deps += field_readers.get(key, []) + whole_readers.get(key, []) + whole_readers.get(base, [])
            for name in node.after:
                if name not in self.nodes:
                    raise ConfigError(f"stage {node.name!r}: 'after' names unknown stage {name!r}; "
                                      f"stages: {', '.join(self.nodes)}")
                deps.append(name)
            node.parents = sorted(set(d for d in deps if d != node.name))
            for key in (*inputs, *optional_inputs):
                base, part = keys.split(key)
                if part is None:
                    whole_readers.setdefault(key, []).append(node.name)
                else:
                    field_readers.setdefault(key, []).append(node.name)
                    field_readers.setdefault(base, []).append(node.name)
            for key in outputs:
                base, part = keys.split(key)
                rows = f"{base}.{keys.ROWS}"
                if part is None or base not in last_writer:  # makes the value (the first writer of a field of
                    fields.setdefault(base, set()).add(rows)  # nothing makes it): writes its rows
                    last_writer.setdefault(rows, node.name)
                if part is None:
                    for k in (base, *fields[base]):
                        last_writer[k] = node.name
                        whole_readers[k], field_readers[k] = [], []
                else:
                    fields[base].add(key)
                    last_writer.setdefault(base, node.name)
                    last_writer[key] = node.name
                    whole_readers[key], field_readers[key] = [], []
        for node in nodes:
            for parent in node.parents:
                self.nodes[parent].children.append(node.name)

    def _topological_order(self) -> list[str]:
        """Dependencies first, otherwise the order the stages are listed in (what the UI's stage table and the
        metrics show, so they read like the graph file)."""
        listed = {name: i for i, name in enumerate(self.nodes)}
        indegree = {name: len(n.parents) for name, n in self.nodes.items()}
        ready = [(listed[name], name) for name, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for child in self.nodes[name].children:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, (listed[child], child))
        if len(order) != len(self.nodes):
            stuck = [n for n in self.nodes if n not in order]
            raise ConfigError(f"graph has a cycle through stage(s) {', '.join(stuck)}; check their 'after' lists")
        return order

    @property
    def roots(self) -> list[str]:
        return [n for n in self.order if not self.nodes[n].parents]

    @property
    def leaves(self) -> list[str]:
        return [n for n in self.order if not self.nodes[n].children]

    def outputs(self) -> set[str]:
        return {k for n in self.nodes.values() for k in n.stage.outputs}
