"""One graph over one source, start to end: the engine for callers that need no session (tests, scripts).

The engine itself lives in ``pipeline.engine`` (dispatch and stage lifecycle) and ``pipeline.flow`` (admission,
live dropping); sessions that serve many files or a UI use ``app.session.Session``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from pipeline.engine import Engine, StreamOptions
from pipeline.graph import Graph
from pipeline.metrics import RunReport
from pipeline.modes import OFFLINE, check_mode
from pipeline.packet import FramePacket
from pipeline.sinks.base import Sink
from pipeline.sources.base import Source


@dataclass
class RunOptions:
    mode: str = OFFLINE
    max_in_flight: int | None = None
    max_frames: int | None = None
    device: str = "auto"


class OneStreamRun:
    """Sets the graph's stages up, runs one stream to its end (or a stop, or Ctrl-C), closes everything."""

    def __init__(self, graph: Graph, options: RunOptions | None = None) -> None:
        self.graph = graph
        self.options = options or RunOptions()
        check_mode(self.options.mode)

    def run(self, source: Source, sinks: Iterable[Sink] = (),
            on_result: Callable[[FramePacket], None] | None = None) -> RunReport:
        """``on_result`` sees every result in order, after the sinks."""
        o = self.options
        engine = Engine(self.graph, device=o.device, mode=o.mode)
        try:
            stream = engine.open_stream(source, sinks, StreamOptions(o.mode, o.max_in_flight, o.max_frames),
                                        on_result, stream_id="main")
            return stream.run_to_end()
        finally:
            engine.close()
