"""The Ray pool: long-lived actors (one Session each, models loaded once), one recording per call.

Actors write their outputs themselves, to the same absolute paths as local workers: OUT must be on storage that
every node sees. An actor that dies (killed, out of memory, node lost) surfaces as ``RayActorError``; its file goes
back to the queue for a new actor, as in the local pool. Ray is optional (`pip install -e .[ray]`).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from app.batch.jobs import FileOutcome, Job, JobQueue, one_line
from app.batch.outputs import discard_temp
from app.batch.threads import thread_env
from app.batch.worker import WorkerConfig
from pipeline.errors import PerceptError

log = logging.getLogger(__name__)
INSTALL_HINT = "--ray needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.30')"


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise PerceptError(INSTALL_HINT)


class BatchActor:
    """The actor body (made remote in ``RayPool``). A session that cannot be built is reported by ``ready``
    rather than raised, so that a bad config is one clear error, not an actor death to retry."""

    def __init__(self, config: WorkerConfig) -> None:
        self.runner = None
        self.error: str | None = None
        try:
            from app.batch.worker import FileRunner

            self.runner = FileRunner(config)
        except PerceptError as exc:
            self.error = one_line(exc)
        except Exception as exc:
            self.error = one_line(f"{type(exc).__name__}: {exc}")

    def ready(self) -> tuple[str, str | None]:
        return ("fatal", self.error) if self.runner is None else ("ready", None)

    def run(self, job: Job) -> FileOutcome:
        return self.runner.run(job)


def _actor_env(threads: int) -> dict[str, str]:
    """The thread budget, and the driver's PERCEPT_* settings (e.g. PERCEPT_CACHE), which local workers inherit."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PERCEPT_")}
    env.update(thread_env(threads))
    return env


def _actor_death_errors() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex

    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "OutOfMemoryError",
             "NodeDiedError")
    return tuple(getattr(rex, n) for n in names if isinstance(getattr(rex, n, None), type))


def _death_reason(exc: BaseException) -> str:
    """Ray's exit type and detail in a few words (its message goes on about possible causes for lines)."""
    text = str(exc)
    if "low on memory" in text or type(exc).__name__ == "OutOfMemoryError":
        return "Ray actor, out of memory"
    found = [m.group(1).strip() for m in (re.search(r"Worker exit type: (\w+)", text),
                                          re.search(r"Worker exit detail: ([^.]*)", text)) if m]
    return f"Ray actor: {', '.join(found)}" if found else f"Ray actor: {type(exc).__name__}"


class RayPool:
    """Runs jobs on Ray actors: ``num_cpus`` = the thread budget, ``num_gpus`` = ``gpus_per_worker``."""

    def __init__(self, config: WorkerConfig, workers: int | None, retries: int, gpus_per_worker: float = 0.0,
                 address: str | None = None) -> None:
        require_ray()
        self.config, self.workers, self.retries = config, workers, retries
        self.gpus_per_worker, self.address = gpus_per_worker, address
        self._startup_deaths = 0

    def _init(self) -> bool:
        """Connect (ADDRESS, e.g. ``auto`` or ``ray://head:10001``) or start a local Ray; reuse one that is up.
        Returns whether this pool started it (and so shuts it down)."""
        import ray

        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if self.address and self.address != "local":
            kwargs["address"] = self.address
        try:
            ray.init(**kwargs)
        except Exception as exc:
            raise PerceptError(f"cannot start or reach Ray ({self.address or 'local'}): {one_line(exc)}") from exc
        return True

    def _actor_count(self, jobs: int) -> int:
        """--workers, or as many actors as the cluster's CPUs (and GPUs) hold; an actor no node can hold would
        wait for ever, so that is an error here."""
        import ray

        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        threads, gpus = self.config.threads, self.gpus_per_worker
        if not any(r.get("CPU", 0) >= threads and r.get("GPU", 0) >= gpus for r in nodes):
            biggest = max(nodes, key=lambda r: r.get("CPU", 0), default={})
            raise PerceptError(f"no Ray node has {threads} CPU(s){f' and {gpus} GPU(s)' if gpus else ''} for one "
                               f"worker (largest: {biggest.get('CPU', 0):g} CPU, {biggest.get('GPU', 0):g} GPU); "
                               f"lower --threads-per-worker / --gpus-per-worker")
        if self.workers:
            return max(1, min(self.workers, jobs))
        n = sum(min(int(r.get("CPU", 0) // threads), int(r.get("GPU", 0) / gpus) if gpus else 10**9) for r in nodes)
        return max(1, min(n, jobs))

    def run(self, jobs: Sequence[Job], on_outcome: Callable[[FileOutcome], None]) -> None:
        import ray

        started = self._init()
        deaths = _actor_death_errors()
        queue = JobQueue(jobs, self.retries)
        actor_cls = ray.remote(BatchActor).options(
            num_cpus=self.config.threads, num_gpus=self.gpus_per_worker, max_restarts=0, max_task_retries=0,
            runtime_env={"env_vars": _actor_env(self.config.threads)})
        pending: dict[Any, tuple[Any, Job | None]] = {}  # object ref -> (actor, job or None for `ready`)
        actors: set[Any] = set()

        def spawn() -> None:
            actor = actor_cls.remote(self.config)
            actors.add(actor)
            pending[actor.ready.remote()] = (actor, None)

        def assign(actor: Any) -> None:
            job = queue.next()
            if job is None:
                actors.discard(actor)
                ray.kill(actor)
            else:
                pending[actor.run.remote(job)] = (actor, job)

        try:
            wanted = self._actor_count(len(queue))
            for _ in range(wanted):
                spawn()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                actor, job = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except deaths as exc:
                    actors.discard(actor)
                    self._died(actor, job, _death_reason(exc), queue, on_outcome)
                    starting = sum(1 for _, j in pending.values() if j is None)
                    if len(queue) > starting and len(actors) < wanted:
                        spawn()
                    continue
                except ray.exceptions.RayTaskError as exc:  # run() raised: a bug, this file fails
                    if job is None:
                        raise PerceptError(f"a Ray batch worker could not start: {one_line(exc)}") from exc
                    on_outcome(FileOutcome(job.rel, "failed", attempts=job.attempt, error=one_line(exc)))
                    assign(actor)
                    continue
                if job is None:
                    kind, message = value
                    if kind == "fatal":
                        raise PerceptError(f"a Ray batch worker could not start: {message}")
                    self._startup_deaths = 0
                else:
                    on_outcome(value)
                assign(actor)
        finally:
            for actor, job in pending.values():
                if job is not None:
                    discard_temp(Path(job.target))
            for actor in actors:
                try:
                    ray.kill(actor)
                except Exception:
                    pass
            if started:
                ray.shutdown()

    def _died(self, actor: Any, job: Job | None, why: str, queue: JobQueue,
              on_outcome: Callable[[FileOutcome], None]) -> None:
        import ray

        try:
            ray.kill(actor)
        except Exception:
            pass
        if job is None:
            self._startup_deaths += 1
            if self._startup_deaths > max(3, self.retries + 1):
                raise PerceptError(f"Ray batch workers keep dying while they start ({why})")
            log.warning("a Ray batch worker died while starting (%s)", why)
            return
        log.warning("a Ray batch worker died (%s) on %s", why, job.rel)
        discard_temp(Path(job.target))
        outcome = queue.worker_died(job, why)
        if outcome is not None:
            on_outcome(outcome)
