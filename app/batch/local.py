"""The local pool: N spawned worker processes, each with its own pipe, watched by their process sentinels.

A ``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one worker dies; here a death
costs only that worker's file, which goes back to the queue for a freshly started worker (``JobQueue``).

Protocol on each pipe: worker -> ``("ready", None)`` once its models are loaded, or ``("fatal", message)`` if its
session cannot be built; driver -> a ``Job`` or ``None`` (exit); worker -> ``("result", FileOutcome)``.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from app.batch.jobs import FileOutcome, Job, JobQueue, death_reason, one_line
from app.batch.outputs import discard_temp
from app.batch.threads import thread_env
from app.batch.worker import WorkerConfig
from pipeline.errors import PerceptError

log = logging.getLogger(__name__)
_spawn_lock = threading.Lock()


def worker_main(conn: Connection, config: WorkerConfig, ident: int) -> None:
    """Entry point of a worker process. Ctrl-C is the driver's business (it stops the workers itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s worker-{ident} %(name)s: %(message)s")
    try:
        from app.batch.worker import FileRunner

        runner = FileRunner(config)
    except Exception as exc:
        message = one_line(exc) if isinstance(exc, PerceptError) else one_line(f"{type(exc).__name__}: {exc}")
        conn.send(("fatal", message))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:  # the driver is gone
                return
            if job is None:
                return
            conn.send(("result", runner.run(job)))
    finally:
        runner.close()


@dataclass
class _Worker:
    ident: int
    process: mp.process.BaseProcess
    conn: Connection
    job: Job | None = None
    ready: bool = False
    retiring: bool = False
    eof: bool = False


class LocalPool:
    """Runs jobs on ``workers`` processes; ``on_outcome`` is called (in this thread) as each file finishes."""

    def __init__(self, config: WorkerConfig, workers: int, retries: int) -> None:
        self.config, self.workers, self.retries = config, max(1, workers), retries
        self._ctx = mp.get_context("spawn")
        self._ids = 0
        self._startup_deaths = 0

    def run(self, jobs: Sequence[Job], on_outcome: Callable[[FileOutcome], None]) -> None:
        queue = JobQueue(jobs, self.retries)
        pool: list[_Worker] = []
        try:
            for _ in range(min(self.workers, len(queue))):
                pool.append(self._spawn())
            while pool:
                waitables = [w.process.sentinel for w in pool] + [w.conn for w in pool if not w.eof]
                ready = set(wait(waitables))
                for w in list(pool):
                    dead = w.process.sentinel in ready
                    if dead or w.conn in ready:
                        # a result sent just before an exit still counts; a dead worker gets no new job
                        self._drain(w, queue, on_outcome, assign=not dead)
                    if dead:
                        pool.remove(w)
                        self._reap(w, queue, on_outcome)
                # a replacement for each dead worker while files wait that no starting worker will take
                active = [w for w in pool if not w.retiring]
                starting = sum(1 for w in active if not w.ready)
                while len(queue) > starting and len(active) < self.workers:
                    active.append(self._spawn())
                    pool.append(active[-1])
                    starting += 1
        finally:
            self._shutdown(pool)

    # ----- workers ------------------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        """Start a worker with its thread budget in the environment before its first import, and with Ctrl-C
        ignored from its first instruction (the disposition is inherited across exec)."""
        self._ids += 1
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=worker_main, args=(child, self.config, self._ids),
                                    name=f"percept-batch-{self._ids}", daemon=True)
        with _spawn_lock:
            saved = {k: os.environ.get(k) for k in thread_env(1)}
            os.environ.update(thread_env(self.config.threads))
            main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
            try:
                process.start()
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        child.close()
        return _Worker(self._ids, process, parent)

    def _drain(self, w: _Worker, queue: JobQueue, on_outcome: Callable[[FileOutcome], None],
               assign: bool = True) -> None:
        while not w.eof:
            try:
                if not w.conn.poll():
                    return
                kind, payload = w.conn.recv()
            except (EOFError, OSError):
                w.eof = True
                return
            if kind == "fatal":
                raise PerceptError(f"a batch worker could not start: {payload}")
            if kind == "ready":
                w.ready = True
                self._startup_deaths = 0
            elif kind == "result":
                job, w.job = w.job, None
                on_outcome(replace(payload, attempts=job.attempt if job else payload.attempts))
            if assign:
                self._assign(w, queue)

    def _assign(self, w: _Worker, queue: JobQueue) -> None:
        job = queue.next()
        w.job = job
        w.retiring = job is None
        try:
            w.conn.send(job)
        except OSError:
            pass  # it died meanwhile: its sentinel says so, and the job goes back to the queue then

    def _reap(self, w: _Worker, queue: JobQueue, on_outcome: Callable[[FileOutcome], None]) -> None:
        w.process.join(5.0)
        w.conn.close()
        code = w.process.exitcode
        if w.retiring and w.job is None and code == 0:
            return
        why = death_reason(code)
        if w.job is not None:
            log.warning("worker %d died (%s) on %s", w.ident, why, w.job.rel)
            discard_temp(Path(w.job.target))
            outcome = queue.worker_died(w.job, why)
            if outcome is not None:
                on_outcome(outcome)
        elif not w.ready:
            self._startup_deaths += 1
            if self._startup_deaths > max(3, self.retries + 1):
                raise PerceptError(f"batch workers keep dying while they start ({why}); "
                                   f"try fewer --workers or check memory")
            log.warning("worker %d died while starting (%s)", w.ident, why)

    def _shutdown(self, pool: list[_Worker]) -> None:
        """Normal end: workers were told to exit. Error or Ctrl-C: stop them; their unfinished folders go."""
        for w in pool:
            if w.process.is_alive() and not w.retiring:
                w.process.terminate()
        for w in pool:
            w.process.join(10.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5.0)
            if w.job is not None:
                discard_temp(Path(w.job.target))
            w.conn.close()

