"""Errors that the CLI turns into one clear line and a non-zero exit (no traceback)."""


class PerceptError(Exception):
    """A user-facing error: bad input, bad config, missing file, unplugged camera. Say what and what to do."""


class ConfigError(PerceptError):
    """A graph or stage configuration is invalid."""


class SourceError(PerceptError):
    """A source cannot be opened or failed while reading."""
