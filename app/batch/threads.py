"""A worker's CPU-thread budget: N workers x T threads should fill the cores, not oversubscribe them (every
library would otherwise start a pool as large as the machine in every worker)."""
from __future__ import annotations

import os

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a new worker process: read by the BLAS/OpenMP runtimes when they load, so it must be in
    place before the first import (set at spawn time, or in a Ray actor's runtime_env)."""
    return {name: str(threads) for name in THREAD_ENV_VARS}


def apply_thread_budget(threads: int) -> None:
    """Inside a worker: the same budget for the libraries that take it at run time."""
    os.environ.update(thread_env(threads))
    import cv2
    import torch

    from models.runtime.onnx import set_default_intra_op_threads

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only settable before torch's first parallel work
        pass
    cv2.setNumThreads(threads)
    set_default_intra_op_threads(threads)


def cpu_count() -> int:
    """Cores this process may use (the affinity mask of a container or `taskset`, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(cpus: int) -> int:
    return 1 if cpus <= 4 else 2


def default_workers(cpus: int, threads: int) -> int:
    return max(1, cpus // max(1, threads))
