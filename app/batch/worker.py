"""What a worker (a local process or a Ray actor) does: build one Session, load its models once, then run file
after file into scratch folders and commit each with its done marker. Shared by both pools, so that they write
the same bytes."""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.batch.jobs import FileOutcome, Job, one_line
from app.batch.outputs import DoneMarker, commit, fresh_temp
from app.batch.threads import apply_thread_budget
from pipeline import endings
from pipeline.errors import PerceptError
from pipeline.sources import source_for_path
from pipeline.modes import OFFLINE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to rebuild the driver's session; picklable."""

    graph: str | None
    device: str
    plugins: tuple[str, ...]
    threads: int
    video: bool
    config_hash: str
    sys_path: tuple[str, ...] = field(default_factory=tuple)  # the driver's: plugin modules import the same way


class FileRunner:
    """One Session for the worker's life; ``run`` never raises for a bad file (it returns a failed outcome)."""

    def __init__(self, config: WorkerConfig) -> None:
        apply_thread_budget(config.threads)
        for entry in config.sys_path:
            if entry not in sys.path and Path(entry or ".").is_dir():
                sys.path.append(entry)
        from app.session import Session

        self.config = config
        self.session = Session.from_options(config.graph, config.device, config.plugins)
        got = self.session.config_hash()
        if got != config.config_hash:
            raise PerceptError(f"this worker's config hash {got} differs from the driver's {config.config_hash}: "
                               f"every worker needs the same Percept, graph, models and checkpoints")
        self.session.load()  # models load here, once per worker, before the first file

    def run(self, job: Job) -> FileOutcome:
        target = Path(job.target)
        t0 = time.perf_counter()
        frames, fps, ended_by, error = 0, 0.0, None, None
        try:
            tmp = fresh_temp(target)
        except OSError as exc:
            return FileOutcome(job.rel, "failed", attempts=job.attempt,
                               error=one_line(f"cannot write {target.parent}: {exc.strerror or exc}"))
        try:
            report = self.session.run_to_folder(source_for_path(job.source), tmp, video=self.config.video,
                                                progress=False, mode=OFFLINE)
            frames, fps, ended_by = report.frames_done, report.fps, report.ended_by
            if ended_by != endings.END_OF_STREAM:
                error = one_line(report.error or f"ended by {ended_by}")
        except PerceptError as exc:
            ended_by, error = endings.SOURCE_ERROR, one_line(exc) or type(exc).__name__
        except Exception as exc:  # a bug somewhere: this file fails, the worker goes on
            log.exception("%s failed", job.rel)
            ended_by, error = "error", one_line(f"{type(exc).__name__}: {exc}")
        wall_s = time.perf_counter() - t0
        status = "done" if error is None else "failed"
        marker = DoneMarker(status=status, config_hash=self.config.config_hash, frames=frames, fps=round(fps, 3),
                            wall_s=round(wall_s, 3), source=job.rel, video=self.config.video, attempt=job.attempt,
                            ended_by=ended_by, error=error)
        try:
            commit(tmp, target, marker)
        except OSError as exc:
            status, error = "failed", one_line(f"cannot move outputs into {target}: {exc.strerror or exc}")
        return FileOutcome(job.rel, status, frames, fps, wall_s, job.attempt, error)

    def close(self) -> None:
        self.session.close()
