"""`percept models list | pull NAME | verify [NAME] | bench`."""
from __future__ import annotations

import json
from typing import Optional

import typer

NAME = "models"
app = typer.Typer(help="The model registry: list, pull, verify, benchmark.", no_args_is_help=True)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json")) -> None:
    """Models in assets/models/manifest.yaml, where they are and whether they are present."""
    from models.registry import Registry

    reg = Registry()
    rows = []
    for name, e in reg.entries.items():
        path = reg.local_path(e)
        rows.append({"name": name, "shipped": e.shipped, "present": path.is_file(), "path": str(path),
                     "licence": e.licence, "source": e.source, "size": e.size})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        where = "shipped" if r["shipped"] else ("cached" if r["present"] else "not pulled")
        typer.echo(f"{r['name']:<28} {where:<10} {r['licence']:<11} {r['source']}")


@app.command()
def pull(name: str = typer.Argument(...)) -> None:
    """Download a model into the cache (resumes an interrupted download) and verify its sha256."""
    from tqdm import tqdm

    from models.registry import Registry

    bar = tqdm(unit="B", unit_scale=True, desc=name, disable=None)

    def progress(done: int, total: Optional[int]) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        path = Registry().pull(name, progress)
    finally:
        bar.close()
    typer.echo(f"{name}: verified, {path}")


@app.command()
def verify(name: Optional[str] = typer.Argument(None)) -> None:
    """Check sha256 of one model or of every present model."""
    from models.registry import Registry
    from pipeline.errors import PerceptError

    reg = Registry()
    names = [name] if name else [n for n, e in reg.entries.items() if reg.local_path(e).is_file()]
    failed = []
    for n in names:
        try:
            reg.verify(n, force=True)
            typer.echo(f"{n}: ok")
        except PerceptError as exc:
            failed.append(str(exc))
    if failed:
        raise PerceptError(failed[0] + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))


@app.command()
def bench(
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | tensorrt"),
    runs: int = typer.Option(30, "--runs", min=1),
    batch: int = typer.Option(1, "--batch", min=1, help="batch size for batch-dynamic models"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Latency of each shipped model on random input, with the execution providers actually used."""
    from models.runtime.model_latency import bench_models

    results = bench_models(device, runs, batch)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for r in results:
        typer.echo(f"{r['model']:<28} batch {r['batch']:<3} p50 {r['p50_ms']:8.2f} ms  p95 {r['p95_ms']:8.2f} ms  "
                   f"on {', '.join(r['providers'])}")
