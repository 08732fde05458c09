"""Flow control of one stream: how many frames may be in the graph, and what happens to the rest.

- ``offline``: lossless with back-pressure. The reader waits while ``max_in_flight`` frames are in the graph;
  every source frame yields exactly one result, in order.
- ``live``: the camera is never blocked. At most ``max_in_flight`` frames are in the graph; while it is full the
  newest frame waits in a one-frame slot, replacing (dropping) the one there before (MediaPipe's FlowLimiter,
  newest wins). Unless fixed by config, ``max_in_flight`` adapts to the measured stage latencies
  (``in_flight_for``): just enough frames to keep the slowest stage busy, so that no queue builds up and latency
  stays near the sum of the stages.
"""
from __future__ import annotations

import math
import threading

from pipeline.graph import Graph
from pipeline.packet import FramePacket

_POLL_S = 0.05


class FlowLimiter:
    """Admission of a stream's frames. Admitted frames get contiguous ``index`` values (0, 1, 2, ...)."""

    def __init__(self, live: bool, max_in_flight: int, adaptive: bool) -> None:
        self.live = live
        self.max_in_flight = max_in_flight
        self.adaptive = adaptive
        self.in_flight = 0
        self.admitted = 0
        self.drops = 0
        self._slot: FramePacket | None = None
        self._stopped = False
        self._cond = threading.Condition()

    def wait_for_room(self, stop: threading.Event) -> bool:
        """Offline back-pressure: block until a frame may enter. False when stopped meanwhile."""
        with self._cond:
            while self.in_flight >= self.max_in_flight and not stop.is_set() and not self._stopped:
                self._cond.wait(_POLL_S)
            return not (stop.is_set() or self._stopped)

    def offer(self, packet: FramePacket) -> FramePacket | None:
        """A frame was read: returns it (indexed) when it may enter now; otherwise (live and full) it takes the
        one-frame slot, dropping the frame waiting there, and None is returned."""
        with self._cond:
            if self._stopped:
                self.drops += 1
                return None
            if self.in_flight < self.max_in_flight:
                self._take(packet)
                return packet
            if self._slot is not None:
                self.drops += 1
            self._slot = packet
            return None

    def release(self) -> FramePacket | None:
        """A frame left the graph. Returns the waiting newest frame (indexed) when it may enter now."""
        with self._cond:
            self.in_flight -= 1
            admit = None
            if self._slot is not None and not self._stopped and self.in_flight < self.max_in_flight:
                admit, self._slot = self._slot, None
                self._take(admit)
            self._cond.notify_all()
            return admit

    def stop(self) -> None:
        """No more admissions; a frame still waiting in the slot counts as dropped."""
        with self._cond:
            self._stopped = True
            if self._slot is not None:
                self.drops += 1
                self._slot = None
            self._cond.notify_all()

    def resize(self, max_in_flight: int) -> None:
        with self._cond:
            self.max_in_flight = max(1, max_in_flight)
            self._cond.notify_all()

    def _take(self, packet: FramePacket) -> None:
        self.in_flight += 1
        packet.index = self.admitted
        self.admitted += 1


def in_flight_for(graph: Graph, medians_ms: dict[str, float | None], enabled: dict[str, bool]) -> int | None:
    """Frames in flight that keep the bottleneck busy: critical path / slowest stage (per worker), rounded up.
    None while some enabled stage has no measurement yet."""
    medians = {n: (medians_ms.get(n) if enabled.get(n, True) else 0.0) for n in graph.order}
    if not medians or any(m is None for m in medians.values()):
        return None
    longest: dict[str, float] = {}
    for name in graph.order:
        node = graph.nodes[name]
        longest[name] = medians[name] + max((longest[p] for p in node.parents), default=0.0)
    critical = max(longest.values())
    bottleneck = max(medians[n] / graph.nodes[n].workers for n in graph.order)
    if bottleneck <= 0:
        return 1
    return max(1, min(len(graph.order) * 2, math.ceil(critical / bottleneck - 1e-6)))
