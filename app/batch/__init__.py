"""`percept batch`: one graph over many recordings, each into its own output folder, resumable.

Modules, one job each: ``discovery`` (which recordings), ``outputs`` (folder names, atomic commits, done markers,
batch.jsonl), ``plan`` (skip or run), ``jobs`` (job/outcome records and the retry rule), ``threads`` (a worker's
CPU-thread budget), ``worker`` (runs files with one Session per process), ``local`` (the process supervisor),
``ray_pool`` (Ray actors), ``runner`` (ties them together for the CLI).
"""
from app.batch.batch_run import BatchOptions, BatchSummary, run_batch

__all__ = ["BatchOptions", "BatchSummary", "run_batch"]
