"""The stage contract: declared inputs and outputs, one job in ``process``, explicit state.

The scheduler, not the stage, decides threads, queues and dropping. A stage marked ``stateless`` may be run by
several workers at once (results are re-ordered); any other stage sees frames one at a time, in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from pipeline.packet import FramePacket


class StageParams(BaseModel):
    """Base for a stage's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StageContext:
    """What a stage learns at setup: its name in the graph and the run's settings."""

    name: str
    mode: str = "offline"
    device: str = "auto"  # "auto" | "cpu" | "cuda"


class Stage:
    """Base class of every stage.

    Subclasses set ``type_name`` (the name used in graph files), ``inputs`` / ``outputs`` (keys: "color",
    "depth", or outputs of other stages such as "persons"), ``Params`` (a StageParams subclass), and implement
    ``process(packet) -> {output_key: value}``. Instances may override ``inputs``/``outputs`` in ``__init__``
    when they depend on parameters.
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
        """Load models, open files. Called once, before the first frame, on the scheduler's thread."""

    def process(self, packet: FramePacket) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def close(self) -> None:
        """Release resources. Called once, also after errors."""

    def describe(self) -> dict[str, Any]:
        """Facts for metrics.json (e.g. execution providers actually in use)."""
        return {}
