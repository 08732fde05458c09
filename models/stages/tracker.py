"""`tracker`: stable track ids for persons across frames (ByteTrack-style; see models/tracking/bytetrack.py)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import Field

from models.tracking.bytetrack import ByteTracker
from pipeline.packet import FramePacket
from pipeline.registry import register_stage
from pipeline.stage import Stage, StageParams, StreamContext


class TrackerParams(StageParams):
    high_score: float = Field(default=0.5, ge=0, le=1)
    low_score: float = Field(default=0.1, ge=0, le=1)
    new_track_score: float = Field(default=0.4, ge=0, le=1)
    match_iou: float = Field(default=0.2, gt=0, le=1)
    max_missed: int = Field(default=30, ge=0, description="frames a lost track is kept for re-identification")


@register_stage
class TrackerStage(Stage):
    type_name = "tracker"
    inputs = ("persons.rows",)  # boxes and scores only: it runs beside stages adding other fields
    outputs = ("persons.track_ids",)
    Params = TrackerParams

    def open_stream(self, stream: StreamContext) -> ByteTracker:
        """Each stream has its own tracks (and track ids from 1)."""
        p = self.params
        return ByteTracker(p.high_score, p.low_score, p.new_track_score, p.match_iou, max_missed=p.max_missed)

    def process(self, packet: FramePacket, tracker: ByteTracker) -> dict[str, Any]:
        persons = packet.get("persons")
        return {"persons": replace(persons, track_ids=tracker.update(persons.boxes, persons.scores))}
