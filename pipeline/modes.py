"""The two ways a stream runs, and the one check of a mode's name.

``offline``: lossless with back-pressure, every source frame gives one result, in order (files, benchmarks).
``live``: at most N frames in flight, the newest frame waits and replaces an older waiting one (a counted drop), the
source is never blocked (cameras; files played at their own pace). pipeline/flow.py does the admission.
"""
from __future__ import annotations

from pipeline.errors import ConfigError

LIVE = "live"
OFFLINE = "offline"
MODES = (LIVE, OFFLINE)


def check_mode(mode: str, what: str = "mode") -> str:
    """``mode`` if it is one of MODES; a ConfigError (a user mistake: exit 2) naming ``what`` otherwise."""
    if mode not in MODES:
        raise ConfigError(f"{what} must be {' or '.join(MODES)}, got {mode!r}")
    return mode
