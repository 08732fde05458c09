"""The session: one validated graph with its models loaded once, serving streams one after another (files of a
batch) or at once. The CLI (`run`, `bench`, `batch`) and the desktop UI all go through it.

    session = Session.from_options(graph="default", device="auto")
    with session:
        report = session.run_to_folder("clip.mp4", Path("out/clip"))     # results.jsonl, annotated.mp4, metrics.json
        stream = session.start("webcam:0", sinks=[...])                     # returns at once
        session.set_enabled("pose", False)                                  # takes effect on the next frames
        session.snapshot()                                                  # live fps, p50/p95, queues, drops
        session.stop()                                                      # clean: outputs closed and valid

``on_result`` is called with the newest result from a thread of its own (app/mailbox.py): a slow consumer (a UI
painting) skips to the newest frame and never holds the graph up. The folder's sinks: app/folder_sinks.py; the
config hash: app/config_hash.py; the result line: models/results.py and docs/results.md.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from app.command_setup import check_out_dir, load_builtin_stages
from app.config_hash import config_hash
from app.folder_sinks import FolderOutputs, FolderSinks, ProgressSink
from app.mailbox import LatestMailbox
from pipeline.engine import Engine, Stream, StreamOptions
from pipeline.graph import Graph, GraphConfig, load_graph_config
from pipeline.metrics import RunReport
from pipeline import modes
from pipeline.modes import check_mode
from pipeline.paths import resolve_graph_path
from pipeline.packet import FramePacket
from pipeline.registry import load_plugin
from pipeline.sinks.base import Sink
from pipeline.sources import open_source
from pipeline.sources.base import Source
from pipeline.sources.pacing import paced_for_mode


class Session:
    """A graph built and validated once; stages set up (models loaded) on first use, shared by every stream."""

    def __init__(self, config: GraphConfig, graph_path: Path | None = None, device: str = "auto",
                 on_result: Callable[[FramePacket], None] | None = None) -> None:
        self.config = config
        self.graph_path = graph_path
        self.device = device
        self.graph = Graph.from_config(config)  # validated here, once: types, params, inputs, cycles
        self.engine = Engine(self.graph, device=device, mode=config.mode or modes.OFFLINE)
        self._lock = threading.Lock()
        self._mailbox: LatestMailbox | None = None
        self.deliver_newest(on_result)
        self._config_hash: str | None = None  # computed on first use (it reads every model file)

    @classmethod
    def from_options(cls, graph: str | None = None, device: str = "auto", plugins: Iterable[str] = (),
                     on_result: Callable[[FramePacket], None] | None = None) -> "Session":
        """Plugins, graph file and stage parameters checked before anything loads (one error line each)."""
        load_builtin_stages()
        for spec in plugins:
            load_plugin(spec)
        path = resolve_graph_path(graph)
        return cls(load_graph_config(path), path, device, on_result)

    # ----- streams ------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Set the stages up (load models) now rather than at the first ``start``. Idempotent."""
        self.engine.start()

    def mode_for(self, source: Source, mode: str | None = None) -> str:
        chosen = mode or self.config.mode or (modes.LIVE if source.live else modes.OFFLINE)
        return check_mode(chosen)

    def start(self, source: Source | str | None, sinks: Iterable[Sink] = (), mode: str | None = None,
              max_frames: int | None = None, max_in_flight: int | None = None,
              stream_id: str | None = None, realtime: bool | None = None,
              rate_hz: float | None = None) -> Stream:
        """Attach a source (a Source or a spec string) and return at once; frames flow until it ends or stops.
        In live mode a recording is paced by its own timestamps like a camera (``realtime`` None or True; False:
        as fast as it decodes), or at ``rate_hz`` frames/s (pipeline.sources.pacing)."""
        src = source if isinstance(source, Source) else open_source(source)
        chosen = self.mode_for(src, mode)
        src = paced_for_mode(src, chosen, realtime, rate_hz)
        options = StreamOptions(chosen, max_in_flight, max_frames)
        return self.engine.open_stream(src, sinks, options, self.redeliver, stream_id)

    # ----- the newest result (a window, a dashboard) --------------------------------------------------------------
    def deliver_newest(self, callback: Callable[[FramePacket], None] | None) -> None:
        """From now on every stream's newest result goes to ``callback`` on a thread of its own (app/mailbox.py:
        a slow consumer skips to the newest and never holds the graph up); it replaces the earlier consumer, and
        None stops the delivery. The constructor's ``on_result`` is the first one."""
        mailbox = LatestMailbox(callback) if callback is not None else None
        with self._lock:
            old, self._mailbox = self._mailbox, mailbox
        if old is not None:
            old.close()

    def redeliver(self, packet: FramePacket) -> None:
        """Hand ``packet`` to the newest-result consumer (every stream's results come here; a UI also sends the
        last result again to redraw it with other layers)."""
        mailbox = self._mailbox
        if mailbox is not None:
            mailbox.put(packet)

    def newer_result_waits(self, packet: FramePacket) -> bool:
        """Whether a newer result of ``packet``'s stream already waits for the consumer (then ``packet`` counts as
        skipped): a consumer that paused before using ``packet`` moves on to that one instead."""
        mailbox = self._mailbox
        return mailbox is not None and mailbox.skip_if_newer(packet)

    @property
    def results_skipped(self) -> int:
        """Results the newest-result consumer never saw because newer ones replaced them."""
        mailbox = self._mailbox
        return mailbox.replaced if mailbox is not None else 0

    def run(self, source: Source | str | None, sinks: Iterable[Sink] = (), **options: Any) -> RunReport:
        """Start a stream and block until it ends (Ctrl-C once: finish the frames in flight; twice: at once)."""
        return self.start(source, sinks, **options).run_to_end()

    def exports_for(self, exports: Iterable[str] | str | None = None) -> list[str]:
        """The exports of a run: those asked for (``--export``) and the graph's ``exports:``, packages checked."""
        from models.export import check_packages, parse_exports

        names = parse_exports([*parse_exports(exports), *self.config.exports])
        check_packages(names)
        return names

    def run_to_folder(self, source: Source | str | None, out: Path, video: bool = True, progress: bool = False,
                      mode: str | None = None, max_frames: int | None = None,
                      max_in_flight: int | None = None,
                      on_stream: Callable[[Stream], None] | None = None,
                      exports: Iterable[str] | str | None = None, realtime: bool | None = None,
                      rate_hz: float | None = None) -> RunReport:
        """What `percept run --headless` writes: results.jsonl (line by line), annotated.mp4 (fragmented),
        metrics.json (checkpoints while it runs, then how it ended, on every ending), and the ``exports`` (with the
        graph's: rerun, mcap, coco, mot; see models/export). ``on_stream`` gets the stream once it runs (the CLI
        stops it on a signal)."""
        from models.export import make_exporters

        src = source if isinstance(source, Source) else open_source(source)
        outputs = FolderOutputs(Path(out), video)
        check_out_dir(outputs.folder)
        exporters = make_exporters(self.exports_for(exports), outputs.folder)
        extra = {"graph": str(self.graph_path) if self.graph_path else None, "device": self.device,
                 "config_hash": self.config_hash(),
                 "outputs": {"results": str(outputs.results), "video": str(outputs.annotated) if video else None,
                             **({"exports": [str(e.path) for e in exporters]} if exporters else {})}}
        folder = FolderSinks(outputs, extra, exporters)  # the engine hands it its stream (Sink.bind)
        sinks: list[Sink] = [folder]
        if progress:
            total = src.frame_count
            if max_frames:
                total = min(total, max_frames) if total else max_frames
            sinks.append(ProgressSink(total, src.name))
        try:
            stream = self.start(src, sinks, mode=mode, max_frames=max_frames, max_in_flight=max_in_flight,
                                realtime=realtime, rate_hz=rate_hz)
        except BaseException as exc:  # nothing ran (a model, the source or a file failed, Ctrl-C while loading)
            folder.setup_failed(exc)
            raise
        report = stream.report
        try:
            if on_stream is not None:
                on_stream(stream)
            report = stream.run_to_end()
        finally:
            if not stream.finished.is_set():  # an exception out of the wait: stop now, outputs closed and valid
                stream.abandon()
                stream.wait(15.0)
            folder.finish(report)
        return report

    # ----- control ------------------------------------------------------------------------------------------
    def set_enabled(self, stage: str, enabled: bool) -> None:
        self.engine.set_enabled(stage, enabled)

    def snapshot(self) -> dict[str, Any]:
        snap = self.engine.snapshot()
        snap["dropped_results"] = self.results_skipped
        return snap

    def stop(self, timeout_s: float = 15.0) -> list[RunReport]:
        """Stop every stream cleanly (frames in flight finish, outputs close); the models stay loaded."""
        streams = self.engine.streams()
        for stream in streams:
            stream.stop()
        return [r for r in (s.wait(timeout_s) for s in streams) if r is not None]

    def close(self) -> None:
        """Stop the streams, close the stages (models unload), end the on_result thread."""
        self.engine.close()
        self.deliver_newest(None)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- identity -----------------------------------------------------------------------------------------
    def config_hash(self) -> str:
        """What decides the results: the graph (validated, defaults filled in), the bytes of every model and
        checkpoint it names, the device asked for, and Percept's version. Batch reruns skip files done with the
        same hash."""
        with self._lock:
            if self._config_hash is None:
                self._config_hash = config_hash(self.graph, self.device)
            return self._config_hash
