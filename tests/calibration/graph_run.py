"""Runs a graph's stages in its topological order on one packet, without the scheduler (which is being rewritten):
setup, open_stream, process and packet.apply, as the engine does them."""
from __future__ import annotations

from pipeline import keys
from pipeline.graph import Graph, parse_graph_config
from pipeline.packet import FramePacket
from pipeline.stage import StageContext, StreamContext, takes_state


def build_graph(*stages: dict) -> Graph:
    from app.command_setup import load_builtin_stages

    load_builtin_stages()
    return Graph.from_config(parse_graph_config({"stages": list(stages)}))


class DirectRun:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.states = {}
        for name in graph.order:
            stage = graph.nodes[name].stage
            stage.setup(StageContext(name=name))
            self.states[name] = stage.open_stream(StreamContext(stream_id="main"))

    def __call__(self, packet: FramePacket) -> FramePacket:
        for name in self.graph.order:
            stage = self.graph.nodes[name].stage
            missing = [k for k in stage.inputs if not packet.has(k)]
            if missing:
                continue
            out = stage.process(packet, self.states[name]) if takes_state(stage) else stage.process(packet)
            packet.apply(out or {}, keys.writes(stage.outputs), name)
        return packet
