"""The process exit codes of every `percept` command, and the one rule from a stream's ending to its code."""
from __future__ import annotations

from pipeline import endings

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # a run that started and failed (source, stage or sink error, disk full)
EXIT_USER_ERROR = 2  # a mistake in the command: bad option, missing file, bad graph key
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


def exit_code_for(ended_by: str | None) -> int:
    if endings.failed(ended_by):
        return EXIT_RUN_FAILED
    if endings.cancelled(ended_by):
        return EXIT_INTERRUPTED
    return EXIT_OK
