"""The ``percept`` command line (typer). User mistakes end as one line on stderr and a non-zero exit."""
from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import typer

from app.display import has_display
from app.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USER_ERROR, exit_code_for
from pipeline import endings, modes
from pipeline.modes import check_mode
from pipeline.errors import PerceptError, StageSetupError

cli = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="Percept: real-time RGB-D perception (pose, face, gaze, actions) on cameras and recordings.")
log = logging.getLogger("percept")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.callback(invoke_without_command=True)
def _main(ctx: typer.Context,
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each part does.")) -> None:
    _setup_logging(verbose)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@cli.command()
def run(
    sources: Optional[list[str]] = typer.Argument(None, metavar="[SOURCE]...", show_default=False,
                                                  help="Same as --source: `percept run clip.mp4`."),
    source: Optional[list[str]] = typer.Option(None, "--source", "-s", help="Camera, file, folder or kind "
                                               "(auto, synthetic, webcam:0, realsense, video:F, images:D). Default: "
                                               "auto. Repeat it, or give a YAML file with a `sources:` list, for "
                                               "several streams at once (outputs in OUT/<stream>/)."),
    graph: Optional[str] = typer.Option(None, "--graph", "-g", help="Graph YAML (default: assets/graphs/default.yaml)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="live (drop frames, low latency) or offline "
                                       "(lossless). Default: live for cameras, offline for files."),
    headless: bool = typer.Option(False, "--headless", help="No window: write results to --out."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: runs/<time>)."),
    plugin: list[str] = typer.Option([], "--plugin", help="Extra stage class as module:Class (repeatable)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after N frames."),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", min=1, help="Frames in the graph at once."),
    realtime: Optional[bool] = typer.Option(None, "--realtime/--no-realtime", help="Live mode: release a "
                                            "recording's frames at their own timestamps, like a camera (default "
                                            "on for files in live mode; --no-realtime: as fast as it decodes)."),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.1, help="Live mode: pace a recording at this many "
                                         "frames/s instead of its own timestamps."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | tensorrt for model stages."),
    video: bool = typer.Option(True, "--video/--no-video", help="Write annotated.mp4."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar for files."),
    export: list[str] = typer.Option([], "--export", "-e", help="Also write, beside results.jsonl: rerun "
                                     "(results.rrd), rerun-live (a Rerun viewer), mcap (results.mcap, Foxglove), "
                                     "coco (coco_keypoints.json), mot (mot.txt); comma-separated or repeated."),
) -> None:
    """Run a graph over a source; headless writes results.jsonl, annotated.mp4, metrics.json and the exports."""
    from app.command_setup import check_out_dir
    from app.session import Session
    from pipeline.sources import open_source
    from pipeline.sources.pacing import paced_for_mode

    session = Session.from_options(graph, device, plugin)  # graph, stages and params validated, nothing loaded
    exports = session.exports_for(export)  # names and packages checked before anything opens
    from app.streams import parse_stream_sources

    specs = parse_stream_sources([*(sources or []), *(source or [])])
    if len(specs) > 1 and (realtime is not None or rate is not None):
        raise PerceptError("--realtime/--no-realtime and --rate apply to one --source; several streams in live "
                           "mode are paced by their own timestamps")
    if len(specs) > 1:
        from app.streams import run_streams

        out = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        signals = _RunSignals()
        with signals, session:
            code = run_streams(session, specs, out, video=video, mode=mode, max_frames=max_frames,
                               max_in_flight=max_in_flight, on_stream=signals.attach, echo=typer.echo,
                               exports=exports)
        raise typer.Exit(code)
    src = open_source(specs[0].source if specs else None)
    chosen_mode = session.mode_for(src, mode)
    paced_for_mode(src, chosen_mode, realtime, rate)  # a contradiction (--rate offline) is one line, before loading
    if not headless:
        ui = _try_ui()
        if ui is not None:  # the user's --mode (None: live for cameras, offline for files, decided by the UI)
            raise typer.Exit(ui(session, src, mode))
        typer.echo("note: no display or no desktop UI available; running headless", err=True)
    out = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    check_out_dir(out)
    signals = _RunSignals()
    with signals, session:
        report = session.run_to_folder(src, out, video=video, progress=progress, mode=chosen_mode,
                                       max_frames=max_frames, max_in_flight=max_in_flight, on_stream=signals.attach,
                                       exports=exports, realtime=realtime, rate_hz=rate)
    raise typer.Exit(_report_exit(report, chosen_mode, out))


@cli.command("export")
def export_results(
    results_dir: Path = typer.Argument(..., help="The --out folder of `percept run --headless` (or its "
                                       "results.jsonl)."),
    to: list[str] = typer.Option(..., "--to", "-t", help="rerun, rerun-live, mcap, coco, mot (comma-separated "
                                 "or repeated)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write them (default: RESULTS_DIR)."),
) -> None:
    """Convert an existing run's results.jsonl to Rerun, MCAP (Foxglove), COCO keypoints or MOTChallenge files."""
    from models.export.convert import convert

    for path, frames in convert(results_dir, to, out).items():
        typer.echo(f"{path}: {frames} frames")


@cli.command()
def ui(
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Camera, file, folder or kind. Default: auto "
                                         "(a camera, else the bundled clip with people)."),
    graph: Optional[str] = typer.Option(None, "--graph", "-g", help="Graph YAML or shipped graph name."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | tensorrt for model stages."),
    mode: Optional[str] = typer.Option(None, "--mode", help="live or offline (default: live for cameras, "
                                       "offline for files)."),
    plugin: list[str] = typer.Option([], "--plugin", help="Extra stage class as module:Class (repeatable)."),
    screenshot: Optional[Path] = typer.Option(None, "--screenshot", help="Run --after frames, save a PNG of the "
                                              "window and exit (offscreen when there is no display)."),
    after: int = typer.Option(30, "--after", min=1, help="Frames before the screenshot."),
    size: Optional[str] = typer.Option(None, "--size", help="Window size WIDTHxHEIGHT (screenshots: 1360x860)."),
    view: Optional[str] = typer.Option(None, "--view", help="Dock to bring to the front: depth, 3d, people, stages."),
    bench: bool = typer.Option(False, "--bench", help="Measure UI responsiveness (event-loop lateness) and graph "
                               "throughput with the window vs headless, then exit."),
    frames: int = typer.Option(300, "--frames", "-n", min=10, help="Frames per --bench run."),
) -> None:
    """The desktop window: video with overlays, depth, 3D, stage switches and plots, people, record, playback."""
    from app.ui.launch import ui_command

    raise typer.Exit(ui_command(source, graph, device, mode, plugin, screenshot, after, bench, frames, size, view))


# After the first Ctrl-C (or SIGTERM) frames already in the graph may finish for this long; the rest are dropped
# (metrics.json counts them as frames_unfinished).
INTERRUPT_DRAIN_S = 1.0


class _RunSignals:
    """Ctrl-C and SIGTERM during `percept run`. Once the stream runs no exception is raised anywhere: the first
    signal stops reading (frames in the graph get INTERRUPT_DRAIN_S to finish, then outputs close), a second one
    stops at once (outputs still closed and valid, the stages finish the frame in hand before the process exits),
    a third exits without waiting. The run records ``interrupted`` (SIGINT) or ``terminated`` (SIGTERM). Before the
    stream runs (models loading) the signal raises KeyboardInterrupt, or app.folder_sinks.Terminated, as usual."""

    def __init__(self) -> None:
        self.streams: list = []  # every stream of the run (several with repeated --source)
        self.count = 0
        self.ending = (endings.INTERRUPTED, "interrupted by Ctrl-C")
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "_RunSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            # once a signal ended the run, a second one that lands while the process exits must not kill it with
            # the default handler (exit -2 instead of 130): outputs are closed, so it is ignored; a third exits now
            signal.signal(signum, self._after_run if self.count else previous)
        if self.count and self._previous:
            # the interpreter puts the default handlers back late in its shutdown: from the atexit hooks on, the
            # signals are ignored at the OS level, so one landing in the last moments cannot turn 130 into -2
            atexit.register(self._ignore_signals, tuple(self._previous))
        self._previous.clear()

    @staticmethod
    def _ignore_signals(signums: tuple[int, ...]) -> None:
        for signum in signums:
            signal.signal(signum, signal.SIG_IGN)

    def _after_run(self, signum, frame) -> None:
        self.count += 1
        if self.count >= 3:
            os._exit(EXIT_INTERRUPTED)

    def attach(self, stream) -> None:
        self.streams.append(stream)
        if self.count:  # a stream that started after the first signal stops too
            stream.interrupt(*self.ending, drain_s=INTERRUPT_DRAIN_S)

    def _handle(self, signum, frame) -> None:
        from app.folder_sinks import Terminated

        terminated = signum == signal.SIGTERM
        self.count += 1
        streams = list(self.streams)
        if not streams:
            raise Terminated() if terminated else KeyboardInterrupt()
        if self.count == 1 and terminated:
            self.ending = (endings.TERMINATED, "terminated by SIGTERM")
        if self.count <= 2:  # the stream's policy: the first stops reading and drains, the second stops at once
            for stream in streams:
                stream.interrupt(*self.ending, drain_s=INTERRUPT_DRAIN_S)
        else:
            os.write(2, b"interrupted again: exiting without waiting for the stages\n")
            os._exit(EXIT_INTERRUPTED)


def _try_ui():
    """The Qt UI's entry point when a display exists and the UI module is present."""
    if not has_display():
        return None
    try:
        module = importlib.import_module("app.ui")
    except ModuleNotFoundError as exc:
        if exc.name == "app.ui":
            return None
        raise
    return getattr(module, "run_ui", None)


def _report_exit(report, mode: str, out: Path) -> int:
    summary = (f"{report.frames_done} frames in {report.wall_s:.1f} s ({report.fps:.1f} fps), "
               f"{report.drops} dropped, mode {mode}; results in {out}/")
    typer.echo(summary, err=True)
    if report.ended_by == endings.DISK_FULL:
        typer.echo(f"error: disk full: {report.error}; the outputs written so far are valid", err=True)
    elif endings.failed(report.ended_by):
        typer.echo(f"error: {report.error}", err=True)
    elif endings.cancelled(report.ended_by):
        typer.echo(f"{report.ended_by}: results written so far are complete", err=True)
    return exit_code_for(report.ended_by)


@cli.command()
def bench(
    source: str = typer.Option("synthetic:640x480", "--source", "-s", help="Source spec (frames are preloaded)."),
    graph: str = typer.Option("bench", "--graph", "-g", help="Graph YAML or the name of a shipped graph."),
    frames: int = typer.Option(300, "--frames", "-n", min=1, help="Frames to process."),
    mode: str = typer.Option(modes.OFFLINE, "--mode", help="offline (throughput) or live (latency, drops)."),
    compare_sequential: bool = typer.Option(False, "--compare-sequential",
                                            help="Also run the stages as a plain one-thread loop; report speed-up."),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", min=1),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.1, help="Pace the source at this many frames/s "
                                         "like a camera (live mode default: a recording's own frame rate, else "
                                         "3x the graph's sequential rate)."),
    realtime: Optional[bool] = typer.Option(None, "--realtime/--no-realtime", help="Live mode: replay the frames "
                                            "at the source's own frame rate (default on for recordings, off for "
                                            "synthetic)."),
    device: str = typer.Option("auto", "--device"),
    plugin: list[str] = typer.Option([], "--plugin"),
    streams: int = typer.Option(1, "--streams", min=1, help="Run N copies of the source as N streams at once "
                                "in one session, against the same N run one after another."),
    export: list[str] = typer.Option([], "--export", "-e", help="Measure export costs: frames/s writing "
                                     "results.jsonl alone, with each of these exports, and with all of them."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Throughput and per-stage / end-to-end latency percentiles of a graph."""
    from app.graph_bench import bench as run_bench
    from app.graph_bench import bench_exports, bench_streams, memory_line, preload, recorded_fps, run_sequential
    from app.session import Session
    from pipeline.sources import open_source

    check_mode(mode, "--mode")
    if mode != modes.LIVE and realtime:
        raise PerceptError("--realtime paces the source like a camera: it needs --mode live")
    if rate is not None and realtime is False:
        raise PerceptError("--rate paces the source; it cannot go with --no-realtime")
    if streams > 1 and (mode != modes.OFFLINE or compare_sequential or rate):
        raise PerceptError("--streams measures offline throughput: leave out --mode live, --rate and "
                           "--compare-sequential")
    session = Session.from_options(graph, device, plugin)
    exports = session.exports_for(export) if export else []
    if exports and (streams > 1 or mode != modes.OFFLINE or compare_sequential or rate):
        raise PerceptError("--export measures offline throughput of one stream: leave out --streams, --mode live, "
                           "--rate and --compare-sequential")
    src = open_source(source)
    loaded = preload(src, frames)
    if exports or streams > 1:
        with session:
            result = (bench_exports(session, loaded, frames, exports, max_in_flight) if exports
                      else bench_streams(session, loaded, frames, streams, max_in_flight))
        result["graph"], result["source"] = str(session.graph_path), src.name
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        else:
            (_print_exports if exports else _print_streams)(result, session.graph_path.name, src.name)
        return
    with session:
        if mode == modes.LIVE and rate is None:
            if realtime is None:
                from pipeline.sources.synthetic import SyntheticSource

                realtime = not isinstance(src, SyntheticSource)  # a recording stands in for its camera
            if realtime:
                rate = round(recorded_fps(loaded), 3)
            else:
                probe = run_sequential(session, loaded[:30], min(30, frames))
                rate = round(3 * probe.fps, 1)  # a camera clearly faster than the graph
        result = run_bench(session, loaded, frames, mode, compare_sequential, max_in_flight, rate)
    result["graph"] = str(session.graph_path)
    result["source"] = src.name
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    p = result["pipelined"]
    paced = f", source paced at {rate} frames/s" if rate else ""
    typer.echo(f"graph {session.graph_path.name} on {src.name}, {result['frames']} frames "
               f"{result['frame_size'][0]}x{result['frame_size'][1]}, mode {mode}{paced}")
    typer.echo(f"pipelined: {p['fps']:.1f} frames/s, end-to-end p50 {p['end_to_end_ms']['p50']} ms "
               f"p95 {p['end_to_end_ms']['p95']} ms p99 {p['end_to_end_ms']['p99']} ms, drops {p['drops']}, "
               f"max in flight {p['max_in_flight']}")
    for name, s in p["stages"].items():
        lat = s["latency_ms"]
        typer.echo(f"  {name:<16} p50 {lat['p50']} ms  p95 {lat['p95']} ms  p99 {lat['p99']} ms  "
                   f"queue max {s['queue_depth']['max']}  errors {s['errors']}")
    typer.echo(f"sum of stage medians {result['sum_stage_p50_ms']} ms")
    if "sequential" in result:
        typer.echo(f"sequential: {result['sequential']['fps']:.1f} frames/s -> speed-up x{result['speedup']}")
    typer.echo(memory_line(result))


def _print_exports(result: dict, graph: str, source: str) -> None:
    typer.echo(f"graph {graph} on {source}, {result['frames']} frames {result['frame_size'][0]}x"
               f"{result['frame_size'][1]}, offline, one run after another:")
    for run in result["runs"]:
        size = ", ".join(f"{k} {v / 2 ** 20:.2f} MiB" for k, v in run["bytes"].items())
        typer.echo(f"  {run['label']:<28} {run['fps']:7.2f} frames/s  x{run['relative']}"
                   + (f"  ({size})" if size else ""))


def _print_streams(result: dict, graph: str, source: str) -> None:
    from app.graph_bench import memory_line

    together, alone = result["together"], result["one_after_another"]
    n = result["streams"]
    typer.echo(f"graph {graph} on {source}: {n} streams x {result['frames_per_stream']} frames "
               f"{result['frame_size'][0]}x{result['frame_size'][1]}")
    typer.echo(f"together:          {together['total_fps']:.2f} frames/s in all ({together['wall_s']:.1f} s)")
    for s in together["per_stream"]:
        e2e = s["end_to_end_ms"]
        typer.echo(f"  {s['stream']:<12} {s['fps']:.2f} frames/s, end-to-end p50 {e2e['p50']} ms p95 {e2e['p95']} ms")
    typer.echo(f"one after another: {alone['total_fps']:.2f} frames/s in all ({alone['wall_s']:.1f} s)")
    typer.echo(f"speed-up x{result['speedup']}; results identical to the single runs: "
               f"{'yes' if result['identical_results'] else 'NO ' + str(result['identical_per_stream'])}")
    typer.echo(memory_line(result))


@cli.command()
def devices(as_json: bool = typer.Option(False, "--json")) -> None:
    """List cameras: RealSense devices and OpenCV webcams."""
    from pipeline.devices import list_devices

    found = list_devices()
    if as_json:
        typer.echo(json.dumps([d if isinstance(d, dict) else d.to_dict() for d in found], indent=2))
        return
    if not found:
        typer.echo("no cameras found (RealSense or webcam); use --source FILE or --source synthetic")
        return
    for d in found:
        info = d if isinstance(d, dict) else d.to_dict()
        typer.echo("  ".join(f"{k}={v}" for k, v in info.items() if k != "profiles"))


@cli.command()
def record(
    source: str = typer.Option(..., "--source", "-s", help="Any source spec."),
    out: Path = typer.Option(..., "--out", "-o", help="FILE.db3 (RealSense recording) or a new folder."),
    frames: Optional[int] = typer.Option(None, "--frames", "-n", min=1, help="Stop after N frames."),
) -> None:
    """Write a replayable RGB-D recording (.db3 for the realsense source, or an images folder)."""
    from pipeline.sources import open_source

    src = open_source(source)
    if out.suffix.lower() in (".db3", ".bag"):
        from pipeline.recording import write_recording

        def packets():
            with src:
                n = 0
                while frames is None or n < frames:
                    p = src.read()
                    if p is None:
                        return
                    n += 1
                    yield p

        stats = write_recording(packets(), out, fps=None)
        typer.echo(f"recorded {stats}")  # stats names the file written (a .bag request writes .db3)
        return
    from pipeline.sinks.images_folder import ImagesFolderSink

    sink = ImagesFolderSink(out)
    with src:
        sink.open(src.describe())
        try:
            while frames is None or sink.frames < frames:
                p = src.read()
                if p is None:
                    break
                sink.write(p)
        finally:
            sink.close()
    typer.echo(f"recorded {sink.frames} frames in {out}/ (replay it with --source)")


@cli.command()
def stages() -> None:
    """List stage types (built-in and plugins) with their inputs, outputs and parameters."""
    from app.command_setup import load_builtin_stages
    from pipeline.registry import stage_types

    load_builtin_stages()
    for name, cls in stage_types().items():
        params = ", ".join(cls.Params.model_fields) or "-"
        optional = f"  optional: {', '.join(cls.optional_inputs)}" if cls.optional_inputs else ""
        typer.echo(f"{name:<18} in: {', '.join(cls.inputs) or '-'}{optional}  out: {', '.join(cls.outputs) or '-'}  "
                   f"params: {params}")


def _mount_command_groups() -> None:
    from app.commands import COMMAND_MODULES

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        cli.add_typer(module.app, name=module.NAME)


_mount_command_groups()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: PerceptError -> one line + exit 2; Ctrl-C -> exit 130."""
    try:
        # in non-standalone mode click returns typer.Exit's code instead of raising it
        result = cli(args=argv, standalone_mode=False)
        if isinstance(result, int):
            return result
    except PerceptError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR
    except StageSetupError as exc:  # a stage's own failure, not the user's: the run could not start
        exc.show()
        return EXIT_RUN_FAILED
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        # Usage errors (unknown option, bad value) arrive here in non-standalone mode. They are click's exceptions,
        # or, since typer 0.2x, those of typer's own copy of click: recognise them by what they can do.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            return EXIT_INTERRUPTED
        raise
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
