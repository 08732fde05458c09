"""A batch from options to summary: discover, decide what to skip (before any model loads), run the rest on the
local pool or Ray, record each file in batch.jsonl as it finishes."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from app.batch.discovery import RECORDING_SUFFIXES, VIDEO_SUFFIXES, discover
from app.batch.jobs import FileOutcome, Job
from app.batch.outputs import BATCH_LOG, BatchLog
from app.batch.plan import REDO_CHOICES, plan
from app.batch.threads import cpu_count, default_threads, default_workers
from app.batch.worker import WorkerConfig
from pipeline.errors import PerceptError


@dataclass
class BatchOptions:
    dir: Path
    out: Path
    glob: str | None = None
    graph: str | None = None
    device: str = "auto"
    plugins: tuple[str, ...] = ()
    workers: int | None = None
    threads_per_worker: int | None = None
    ray: bool = False
    ray_address: str | None = None
    gpus_per_worker: float = 0.0
    retries: int = 2
    redo: str | None = None
    video: bool = True
    progress: bool = True


@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0  # processed in this run (skipped files not counted)
    wall_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    out: Path | None = None

    @property
    def files_per_s(self) -> float:
        return (self.done + self.failed) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        return (f"batch: {self.done} done, {self.skipped} skipped, {self.failed} failed; {self.frames} frames in "
                f"{self.wall_s:.1f} s ({self.files_per_s:.3g} files/s, {self.frames_per_s:.1f} frames/s); "
                f"per-file lines in {self.out / BATCH_LOG if self.out else BATCH_LOG}")


def _check(options: BatchOptions) -> None:
    if not options.dir.exists():
        raise PerceptError(f"batch folder not found: {options.dir}")
    if not options.dir.is_dir():
        raise PerceptError(f"{options.dir} is a file; give a folder of recordings "
                           f"(one file: percept run --source {options.dir} --headless)")
    if options.out.exists() and not options.out.is_dir():
        raise PerceptError(f"--out {options.out} exists and is not a folder")
    if options.redo is not None and options.redo not in REDO_CHOICES:
        raise PerceptError(f"--redo must be one of {', '.join(REDO_CHOICES)}, got {options.redo!r}")
    if options.retries < 0:
        raise PerceptError("--retries must be 0 or more")
    if options.gpus_per_worker < 0:
        raise PerceptError("--gpus-per-worker must be 0 or more")
    if options.gpus_per_worker and not options.ray:
        raise PerceptError("--gpus-per-worker applies to --ray; local workers share the visible GPUs "
                           "(choose them with CUDA_VISIBLE_DEVICES)")
    if options.ray:
        from app.batch.ray_pool import require_ray

        require_ray()


def _graph_argument(graph: str | None) -> str | None:
    """An existing graph file as an absolute path (workers may run elsewhere); a shipped graph's name as is."""
    if graph and Path(graph).exists():
        return str(Path(graph).resolve())
    return graph


def run_batch(options: BatchOptions, echo: Callable[[str], None] | None = None) -> BatchSummary:
    """Run the batch; returns the summary (the CLI prints it and picks the exit code)."""
    from app.session import Session

    t0 = time.perf_counter()
    _check(options)
    root, out = options.dir.resolve(), options.out.resolve()
    recordings = discover(root, options.glob, exclude=out)
    if not recordings:
        kinds = f"videos ({' '.join(sorted(VIDEO_SUFFIXES))}), {' '.join(sorted(RECORDING_SUFFIXES))}, image folders"
        what = f" matching --glob {options.glob!r}" if options.glob else ""
        raise PerceptError(f"no recordings{what} under {options.dir} (looked for {kinds})")
    graph = _graph_argument(options.graph)
    session = Session.from_options(graph, options.device, options.plugins)  # validated, nothing loaded
    config_hash = session.config_hash()
    session.close()
    decisions = plan(recordings, out, config_hash, options.redo, options.video)
    summary = BatchSummary(out=options.out)
    out.mkdir(parents=True, exist_ok=True)
    with BatchLog(out / BATCH_LOG) as batch_log:
        for d in decisions:
            if not d.run:
                m = d.marker
                batch_log.write(FileOutcome(d.recording.rel, "skipped", m.frames if m else 0, m.fps if m else 0.0,
                                            0.0, 0, None).record())
                summary.skipped += 1
        jobs = [Job(d.recording.rel, str(d.recording.path), str(d.target)) for d in decisions if d.run]
        if jobs:
            _run_jobs(options, jobs, graph, config_hash, batch_log, summary, echo)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _run_jobs(options: BatchOptions, jobs: list[Job], graph: str | None, config_hash: str, batch_log: BatchLog,
              summary: BatchSummary, echo: Callable[[str], None] | None) -> None:
    from tqdm import tqdm

    cpus = cpu_count()
    threads = options.threads_per_worker or default_threads(cpus)
    config = WorkerConfig(graph=graph, device=options.device, plugins=tuple(options.plugins), threads=threads,
                          video=options.video, config_hash=config_hash, sys_path=tuple(sys.path))
    if options.ray:
        from app.batch.ray_pool import RayPool

        pool = RayPool(config, options.workers, options.retries, options.gpus_per_worker, options.ray_address)
        where = f"Ray ({options.ray_address or 'local'})"
    else:
        from app.batch.local import LocalPool

        workers = min(options.workers or default_workers(cpus, threads), len(jobs))
        pool = LocalPool(config, workers, options.retries)
        where = f"{workers} local worker(s) x {threads} thread(s)"
    if echo is not None:
        echo(f"batch: {len(jobs)} to run, {summary.skipped} skipped; {where}")
    bar = tqdm(total=len(jobs), unit="file", dynamic_ncols=True, file=sys.stderr, disable=None if options.progress
               else True)
    t_start = time.perf_counter()

    def on_outcome(outcome: FileOutcome) -> None:
        batch_log.write(outcome.record())
        summary.frames += outcome.frames
        if outcome.status == "done":
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append((outcome.rel, outcome.error or "failed"))
        elapsed = time.perf_counter() - t_start
        bar.set_postfix_str(f"{summary.frames / elapsed if elapsed > 0 else 0:.1f} frames/s, "
                            f"{summary.failed} failed", refresh=False)
        bar.update(1)

    try:
        pool.run(jobs, on_outcome)
    finally:
        bar.close()
