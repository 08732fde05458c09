"""The stage contract: declared inputs and outputs, one job in ``process``, explicit state.

Lifecycle, as in Holoscan operators: ``setup`` once per session (load models; they are shared by every stream and
every file the session runs), then per stream ``open_stream`` -> ``process`` for each frame -> ``close_stream``,
and ``close`` when the session ends. Whatever must not leak from one stream (or file) to the next (a tracker, a
smoother's filters, an online model's memory) lives in the object ``open_stream`` returns; the engine hands it back
to ``process`` and ``close_stream``. The scheduler, not the stage, decides threads, queues and dropping. A stage
marked ``stateless`` may be run by several workers at once (results are re-ordered); any other stage sees the
frames of a stream one at a time, in order.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from pipeline.packet import FramePacket
from pipeline.modes import OFFLINE


class StageParams(BaseModel):
    """Base for a stage's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StageContext:
    """What a stage learns at setup: its name in the graph and the session's settings."""

    name: str
    mode: str = OFFLINE
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "tensorrt"


@dataclass(frozen=True)
class StreamContext:
    """What a stage learns when a stream opens: which stream, and what kind of source feeds it."""

    stream_id: str
    name: str = ""
    mode: str = OFFLINE
    live: bool = False
    fps: float | None = None
    sequence: bool = True  # frames follow each other in time; False: unrelated images (nothing carries over)


class Stage:
    """Base class of every stage.

    Subclasses set ``type_name`` (the name used in graph files), ``inputs`` / ``outputs`` (keys: "color",
    "depth", or outputs of other stages such as "persons"), ``Params`` (a StageParams subclass), and implement
    ``process(packet, state) -> {output_key: value}`` (``process(packet)`` is accepted too, for stages without
    per-stream state). Instances may override ``inputs``/``outputs`` in ``__init__`` when they depend on
    parameters. A stage that writes "depth" returns a ``pipeline.packet.DepthMap``.
    """

    type_name: ClassVar[str] = ""
    inputs: tuple[str, ...] = ("color",)
    optional_inputs: tuple[str, ...] = ()  # waited for when some stage produces them, never required
    outputs: tuple[str, ...] = ()
    stateless: ClassVar[bool] = False
    Params: ClassVar[type[StageParams]] = StageParams

    def __init__(self, params: StageParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    def setup(self, context: StageContext) -> None:
        """Load models, open files. Called once per session, before the first stream."""

    def open_stream(self, stream: StreamContext) -> Any:
        """Per-stream state (None for stages without any). Called before the stream's first frame."""
        return None

    def process(self, packet: FramePacket, state: Any = None) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def close_stream(self, state: Any) -> None:
        """Release a stream's state. Called once per opened stream, after its last frame, also after errors."""

    def close(self) -> None:
        """Release resources. Called once when the session ends, also after errors."""

    def describe(self) -> dict[str, Any]:
        """Facts for metrics.json (e.g. execution providers actually in use)."""
        return {}


def takes_state(stage: Stage) -> bool:
    """Whether ``stage.process`` accepts the per-stream state (plugins may define ``process(packet)`` only)."""
    try:
        params = list(inspect.signature(stage.process).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
