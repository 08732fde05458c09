"""Where results go: JSON lines, annotated video, and anything else that consumes packets in order."""
from pipeline.sinks.base import Sink
from pipeline.sinks.jsonl import JsonlSink
from pipeline.sinks.memory import ListSink
from pipeline.sinks.video import VideoSink

__all__ = ["JsonlSink", "ListSink", "Sink", "VideoSink"]
