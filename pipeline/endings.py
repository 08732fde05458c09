"""How a stream ended: the one vocabulary of ``RunReport.ended_by`` (metrics.json's ``ended_by``), and which
endings are failures. The engine and the session write these names; the CLI, the batch runner, the UI and the
exit codes (app/exit_codes.py) read them from here, so a new ending is added in one place."""
from __future__ import annotations

END_OF_STREAM = "end_of_stream"  # the source ran out (a file's end)
FRAME_LIMIT = "frame_limit"  # --max-frames reached
STOPPED = "stopped"  # the application stopped it (the UI's Stop, a session's stop())
INTERRUPTED = "interrupted"  # Ctrl-C
TERMINATED = "terminated"  # SIGTERM
SOURCE_ERROR = "source_error"  # the source failed (a camera unplugged, a corrupt file)
STAGE_ERROR = "stage_error"  # a stage raised
SINK_ERROR = "sink_error"  # writing an output failed
DISK_FULL = "disk_full"  # writing an output failed for want of space

FAILED = frozenset({SOURCE_ERROR, STAGE_ERROR, SINK_ERROR, DISK_FULL})
CANCELLED = frozenset({INTERRUPTED, TERMINATED})
FINISHED = frozenset({END_OF_STREAM, FRAME_LIMIT, STOPPED})  # ended as asked: every output complete
ALL = FAILED | CANCELLED | FINISHED


def failed(ended_by: str | None) -> bool:
    return ended_by in FAILED


def cancelled(ended_by: str | None) -> bool:
    return ended_by in CANCELLED
