"""`percept batch DIR --out OUT ...`: one graph over every recording in a folder (see app/batch)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from app.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED

NAME = "batch"
_LOCAL = "local"
# what may follow a bare --ray as its ADDRESS (anything else is the next argument): local, auto, host:port, ray://..
_ADDRESS = re.compile(r"^(local|auto|ray://\S+|[\w.\-\[\]:]+:\d+)$")


def normalise_ray_flag(args: list[str]) -> list[str]:
    """``--ray`` takes an optional ADDRESS: ``--ray`` alone means a local Ray (click has no optional values)."""
    result: list[str] = []
    for i, arg in enumerate(args):
        result.append(arg)
        if arg == "--ray":
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or not _ADDRESS.match(following):
                result.append(_LOCAL)
    return result


class _CommandGroup(TyperGroup):
    """A typer group used as one command (the COMMAND_MODULES mounting makes groups): options and DIR in any
    order, no COMMAND in the usage line."""

    allow_interspersed_args = True

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, normalise_ray_flag(list(args)))

    def collect_usage_pieces(self, ctx):
        return [p for p in super().collect_usage_pieces(ctx) if p != self.subcommand_metavar]


app = typer.Typer(cls=_CommandGroup, no_args_is_help=True, invoke_without_command=True,
                  help="Run a graph over every recording in a folder (resumable, parallel, optionally on Ray).")


@app.callback(invoke_without_command=True)
def batch(
    folder: Path = typer.Argument(..., metavar="DIR", help="Folder of recordings: videos, .bag/.db3, image folders."),
    out: Path = typer.Option(..., "--out", "-o", help="Output root: OUT/<relative path>/ per recording."),
    glob: Optional[str] = typer.Option(None, "--glob", help="Only relative paths matching this (fnmatch; * "
                                       "crosses folders: '*.mp4', 'cam1/*')."),
    graph: Optional[str] = typer.Option(None, "--graph", "-g", help="Graph YAML or shipped graph name."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="Worker processes / Ray actors "
                                          "(default: cores / threads per worker)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help="Run on Ray: a local Ray, or "
                                      "ADDRESS (auto, host:port, ray://host:10001). OUT must be on shared storage."),
    retries: int = typer.Option(2, "--retries", min=0, help="Retries of a file whose worker died."),
    redo: Optional[str] = typer.Option(None, "--redo", help="all: run everything again; failed: only files not "
                                       "finished (keep finished ones even if the config changed)."),
    video: bool = typer.Option(True, "--video/--no-video", help="Write annotated.mp4 per recording."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | tensorrt for model stages."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="GPUs per Ray actor "
                                          "(fractions share a GPU)."),
    threads_per_worker: Optional[int] = typer.Option(None, "--threads-per-worker", min=1, help="CPU threads "
                                                     "per worker (ONNX Runtime, torch, OpenCV, BLAS)."),
    plugin: list[str] = typer.Option([], "--plugin", help="Extra stage class as module:Class (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar over files."),
) -> None:
    """Each recording gets OUT/<relative path>/ with results.jsonl, annotated.mp4, metrics.json and _DONE.json;
    reruns skip finished files. Exit 0: all done or skipped; 1: some failed; 2: a user mistake."""
    from app.batch import BatchOptions, run_batch

    options = BatchOptions(dir=folder, out=out, glob=glob, graph=graph, device=device, plugins=tuple(plugin),
                           workers=workers, threads_per_worker=threads_per_worker, ray=ray is not None,
                           ray_address=None if ray in (None, _LOCAL) else ray, gpus_per_worker=gpus_per_worker,
                           retries=retries, redo=redo, video=video, progress=progress)
    try:
        summary = run_batch(options, echo=lambda line: typer.echo(line, err=True))
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished files are in {out}/ with their _DONE.json; the same command goes on "
                   f"from there", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(summary.line(), err=True)
    for rel, error in summary.failures[:20]:
        typer.echo(f"failed: {rel}: {error}", err=True)
    if len(summary.failures) > 20:
        typer.echo(f"... and {len(summary.failures) - 20} more failed (see {out}/batch.jsonl)", err=True)
    raise typer.Exit(EXIT_RUN_FAILED if summary.failed else EXIT_OK)
