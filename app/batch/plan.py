"""Skip or run, from the done markers alone: no model is loaded and no worker starts to decide it, so a rerun
over finished files costs a directory walk and one small JSON read per file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.batch.discovery import Recording
from app.batch.outputs import DoneMarker, read_marker, target_for
from pipeline.errors import PerceptError

REDO_CHOICES = ("all", "failed")


@dataclass(frozen=True)
class Decision:
    recording: Recording
    target: Path
    run: bool
    why: str  # new | failed before | config changed | no video yet | redo all | done
    marker: DoneMarker | None


def decide(marker: DoneMarker | None, config_hash: str, redo: str | None, video: bool) -> tuple[bool, str]:
    """Default: run unless done with the same config hash (and with a video if one is wanted).
    ``redo="failed"``: finished files stay, even under another config; failed and new ones run.
    ``redo="all"``: everything runs."""
    if redo == "all":
        return True, "redo all"
    if marker is None:
        return True, "new"
    if marker.status != "done":
        return True, "failed before"
    if redo == "failed":
        return False, "done"
    if marker.config_hash != config_hash:
        return True, "config changed"
    if video and not marker.video:
        return True, "no video yet"
    return False, "done"


def plan(recordings: list[Recording], out: Path, config_hash: str, redo: str | None,
         video: bool) -> list[Decision]:
    if redo is not None and redo not in REDO_CHOICES:
        raise PerceptError(f"--redo must be one of {', '.join(REDO_CHOICES)}, got {redo!r}")
    decisions = []
    for rec in recordings:
        target = target_for(out, rec.rel)
        marker = read_marker(target)
        run, why = decide(marker, config_hash, redo, video)
        decisions.append(Decision(rec, target, run, why, marker))
    return decisions
