"""Errors that the CLI turns into one clear line and a non-zero exit (no traceback)."""


class PerceptError(Exception):
    """A user-facing error: bad input, bad config, missing file, unplugged camera. Say what and what to do."""


class ConfigError(PerceptError):
    """A graph or stage configuration is invalid."""


class SourceError(PerceptError):
    """A source cannot be opened or failed while reading."""


class StageSetupError(Exception):
    """A stage's ``setup`` failed for a reason other than a PerceptError (a plugin's bug, a model runtime's
    crash): the run cannot start, though the input was fine. The CLI prints ``show()``'s one line and exits as a
    failed run (app/exit_codes.py; a PerceptError from a setup, such as a missing model file, stays a user error).
    It is deliberately not a PerceptError."""

    def __init__(self, stage: str, stage_type: str, cause: BaseException) -> None:
        self.stage, self.stage_type, self.cause = stage, stage_type, cause
        detail = " ".join(str(cause).split())
        super().__init__(f"stage {stage!r} ({stage_type}) failed to set up: {type(cause).__name__}"
                         f"{': ' + detail if detail else ''}")

    def show(self, file=None) -> None:
        import sys

        print(f"error: {self}", file=file or sys.stderr)
