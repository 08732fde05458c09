"""What travels between the driver and its workers (plain picklable records), and the retry rule for workers
that die: the file goes back to the front of the queue for a fresh worker, up to ``retries`` more times."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Iterable


@dataclass(frozen=True)
class Job:
    """One recording to run: absolute paths, so a worker with another working directory (a Ray node) agrees."""

    rel: str
    source: str
    target: str
    attempt: int = 1


@dataclass(frozen=True)
class FileOutcome:
    """How one recording ended; ``attempts`` counts worker starts spent on it (2 = one worker died)."""

    rel: str
    status: str  # done | failed | skipped
    frames: int = 0
    fps: float = 0.0
    wall_s: float = 0.0
    attempts: int = 1
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The batch.jsonl line."""
        return {"path": self.rel, "status": self.status, "frames": self.frames, "fps": round(self.fps, 3),
                "wall_s": round(self.wall_s, 3), "attempts": self.attempts, "error": self.error}


def one_line(text: object, limit: int = 500) -> str:
    """A reason fit for one line of a log: first non-empty line, trimmed."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def death_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class JobQueue:
    """Jobs waiting for a worker, in order; a job whose worker died comes back first, with its attempt counted."""

    def __init__(self, jobs: Iterable[Job], retries: int) -> None:
        self._todo: deque[Job] = deque(jobs)
        self.retries = retries

    def __len__(self) -> int:
        return len(self._todo)

    def next(self) -> Job | None:
        return self._todo.popleft() if self._todo else None

    def worker_died(self, job: Job, why: str) -> FileOutcome | None:
        """Requeue ``job`` for a fresh worker, or, after ``retries`` retries, the failed outcome to record."""
        if job.attempt <= self.retries:
            self._todo.appendleft(replace(job, attempt=job.attempt + 1))
            return None
        times = "time" if job.attempt == 1 else "times"
        return FileOutcome(job.rel, "failed", attempts=job.attempt, error=f"worker died ({why}) {job.attempt} {times}")
