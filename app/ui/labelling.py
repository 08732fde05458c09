"""The Label dock: teach Percept an action from a recording, without leaving the demo.

1. **Analyse**: the recording's people are found, followed and posed once, offline, by the window's own
   ``tracked_pose`` settings, into ``<stem>.results.jsonl`` beside the recording (or under the output folder where
   that is not writable): the track ids and keypoints the labels refer to and that training reads.
2. **Label** on the timeline: pick a track (click its row), select frames (drag, or ``[`` and ``]`` at the
   playhead), name the action, Add. Labels are listed, editable and deletable, and saved as ``<stem>.labels.csv``:
   the file ``percept action features`` and ``percept action train --from-labels`` read (one format).
3. **Train** (models/action/teach.py, off the UI thread): progress, the loss per epoch, Cancel; validation mAP and
   early accuracy when done. The new checkpoint is then loaded into the running ``online_action`` stage
   (``load_checkpoint``: no restart, no other model reloaded); **Restore** puts the previous one back.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                             QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.ui.label_timeline import LabelSpan, LabelTimeline, TrackPresence, presence_spans
from pipeline.errors import PerceptError
from pipeline.modes import OFFLINE

TEACH_EPOCHS = 8


@dataclass
class LabelFiles:
    """Where a recording's analysis and labels live: beside it, or under ``fallback`` where that folder is not
    writable."""

    recording: Path
    results: Path
    labels: Path

    @classmethod
    def for_recording(cls, recording: Path, fallback: Path) -> "LabelFiles":
        folder = recording.parent  # beside a file, or beside a folder of images (not inside it: it is the source)
        if not _writable(folder):
            folder = fallback / "labels"
        stem = recording.stem
        return cls(recording, folder / f"{stem}.results.jsonl", folder / f"{stem}.labels.csv")


def _writable(folder: Path) -> bool:
    try:
        probe = folder / f".percept-write-probe-{threading.get_ident()}"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def read_tracks(results: Path) -> tuple[list[TrackPresence], int]:
    """Each track of a results.jsonl with the frames where it is present, and the number of frames."""
    from models.results import read_results

    frames: dict[int, list[int]] = {}
    last = -1
    for result in read_results(results):
        last = max(last, result.frame)
        for tid in result.persons.track_ids.tolist():
            if tid >= 0:
                frames.setdefault(int(tid), []).append(result.frame)
    tracks = [TrackPresence(tid, presence_spans(sorted(set(fs)))) for tid, fs in sorted(frames.items())]
    return tracks, last + 1


@dataclass
class _Job:
    """A background job (analysis or training): its thread, the messages it posts, and how to cancel it."""

    thread: threading.Thread
    messages: "queue.Queue[dict]" = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)


class LabellingPanel(QWidget):
    seek_requested = pyqtSignal(int)
    message = pyqtSignal(str)  # a line for the status bar
    model_loaded = pyqtSignal(str)  # the checkpoint now in the action stage

    def __init__(self, session, out_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.out_dir = Path(out_dir)
        self.files: LabelFiles | None = None
        self.frames = 0
        self.position = 0
        self.rows: list = []  # models.action.recordings.LabelRow
        self.job: _Job | None = None
        self.result: dict | None = None
        self.previous_checkpoint: Path | None = None
        self.losses: list[float] = []
        self._analysis_out: Path | None = None  # where a running analysis writes its results.jsonl
        self._frame_count: int | None = None  # of the recording being analysed (progress)

        self.title = QLabel("Open a recording to label it")
        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setToolTip("Find, follow and pose the recording's people once (offline)")
        self.analyse_button.clicked.connect(self.analyse)
        self.timeline = LabelTimeline()
        self.timeline.seek_requested.connect(self.seek_requested)
        self.timeline.selection_changed.connect(self._selection_changed)
        self.track = QComboBox()
        self.track.currentIndexChanged.connect(self._track_chosen)
        self.start = QLineEdit()
        self.end = QLineEdit()
        for w, tip in ((self.start, "first frame ([ at the playhead)"), (self.end, "last frame (] at the playhead)")):
            w.setFixedWidth(64)
            w.setToolTip(tip)
        self.name = QLineEdit()
        self.name.setPlaceholderText("action name, e.g. wave")
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_label)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["track", "start", "end", "label"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._cell_edited)
        self.table.setMaximumHeight(150)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_selected)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.load_button = QPushButton("Reload")
        self.load_button.clicked.connect(self.load)
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train OadTR-lite on these labels and use it at once")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.restore_button = QPushButton("Restore previous model")
        self.restore_button.clicked.connect(self.restore)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.report = QLabel("")
        self.report.setWordWrap(True)
        self.plot = _loss_plot()

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.analyse_button)
        layout.addLayout(head)
        layout.addWidget(self.timeline)
        row = QHBoxLayout()
        for w in (QLabel("track"), self.track, QLabel("frames"), self.start, self.end, self.name, self.add_button):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        for w in (self.delete_button, self.save_button, self.load_button):
            row.addWidget(w)
        row.addStretch(1)
        for w in (self.train_button, self.cancel_button, self.restore_button):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        if self.plot is not None:
            layout.addWidget(self.plot)
        layout.addWidget(self.report)
        self.timer = QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self._poll_job)
        self._sync()

    # ----- the recording ------------------------------------------------------------------------------------
    def set_recording(self, path: Path | None) -> None:
        """A new source started: a file (its analysis and labels are loaded where they exist) or not (None)."""
        if self.job is not None:
            return  # a job runs on the current recording; the panel stays with it
        if path is None or not Path(path).exists():
            self.files = None
            self.title.setText("Open a recording to label it (a camera: record it first)")
            self.timeline.set_tracks([], 1)
            self.rows = []
            self._fill_table()
            self._sync()
            return
        self.files = LabelFiles.for_recording(Path(path), self.out_dir)
        self.title.setText(self.files.recording.name)
        self.rows = []
        if self.files.results.is_file():
            self._load_tracks()
        else:
            self.timeline.set_tracks([], 1)
        if self.files.labels.is_file():
            self.load()
        self._fill_table()
        self._sync()

    def show_position(self, frame: int) -> None:
        self.position = frame
        self.timeline.set_position(frame)

    def _load_tracks(self) -> None:
        try:
            tracks, self.frames = read_tracks(self.files.results)
        except PerceptError as exc:
            self.message.emit(str(exc))
            tracks, self.frames = [], 1
        self.timeline.set_tracks(tracks, self.frames)
        self.track.blockSignals(True)
        self.track.clear()
        for t in tracks:
            self.track.addItem(f"#{t.track_id}", t.track_id)
        self.track.blockSignals(False)
        if tracks:
            self._track_chosen()

    # ----- analysis -----------------------------------------------------------------------------------------
    def analyse(self) -> None:
        if self.files is None or self.job is not None:
            return
        files, graph = self.files, self._analysis_graph()
        out = files.results.parent / f".{files.recording.stem}.analysis"

        def run(job: _Job) -> None:
            from app.session import Session

            try:
                import shutil

                shutil.rmtree(out, ignore_errors=True)
                session = Session.from_options(graph, device=self.session.device)
                with session:
                    report = session.run_to_folder(str(files.recording), out, video=False, mode=OFFLINE)
                (out / "results.jsonl").replace(files.results)
                job.messages.put({"done": "analysis", "frames": report.frames_done})
            except Exception as exc:  # shown in the status bar; the UI goes on
                job.messages.put({"error": f"analysis failed: {exc}"})

        self._start(run, f"Analysing {files.recording.name}...")
        self._analysis_out = out

    def _analysis_graph(self) -> Path:
        """The window graph's person stage (its tracked_pose parameters) alone: the tracks the labels refer to
        are the tracks the action stage sees when the recording plays."""
        import yaml

        params: dict = {}
        for node in self.session.graph.nodes.values():
            if node.stage.type_name == "tracked_pose":
                params = node.stage.params.model_dump(mode="json", exclude_defaults=True)
        path = self.out_dir / "labels" / "analysis_graph.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"stages": [{"name": "pose", "type": "tracked_pose", "params": params}]}))
        return path

    # ----- labels -------------------------------------------------------------------------------------------
    def mark_start(self) -> None:
        """[ : the range starts at the playhead (and ends there too until ] says otherwise, if it ended before)."""
        self.start.setText(str(self.position))
        if _int(self.end.text(), -1) < self.position:
            self.end.setText(str(self.position))
        self._select_from_fields()

    def mark_end(self) -> None:
        """] : the range ends at the playhead (and starts there if it started after it)."""
        self.end.setText(str(self.position))
        if _int(self.start.text(), self.position + 1) > self.position:
            self.start.setText(str(self.position))
        self._select_from_fields()

    def _select_from_fields(self) -> None:
        try:
            a, b = int(self.start.text()), int(self.end.text())
        except ValueError:
            return
        if self.track.currentData() is not None:
            self.timeline.select(int(self.track.currentData()), a, b)

    def _selection_changed(self, track: int, start: int, end: int) -> None:
        index = self.track.findData(track)
        if index >= 0 and index != self.track.currentIndex():
            self.track.blockSignals(True)
            self.track.setCurrentIndex(index)
            self.track.blockSignals(False)
        self.start.setText(str(start))
        self.end.setText(str(end))

    def _track_chosen(self) -> None:
        tid = self.track.currentData()
        if tid is not None:
            self.timeline.track = int(tid)
            self.timeline.update()

    def add_label(self) -> bool:
        """The selected range of the selected track, named: one more row."""
        from models.action.recordings import BACKGROUND, LabelRow

        name = self.name.text().strip()
        try:
            start, end = sorted((int(self.start.text()), int(self.end.text())))
        except ValueError:
            self.message.emit("select frames first: drag on a track's row, or [ and ] at the playhead")
            return False
        if self.files is None or self.track.currentData() is None:
            self.message.emit("analyse the recording first: labels belong to its tracks")
            return False
        if not name or name == BACKGROUND or "," in name:
            self.message.emit("name the action (not 'background', no commas)")
            return False
        self.rows.append(LabelRow("ui", self.files.results.name, int(self.track.currentData()), start, end, name))
        self._fill_table()
        self.message.emit(f"labelled #{self.track.currentData()} {start}-{end} as {name}")
        return True

    def delete_selected(self) -> None:
        picked = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in picked:
            del self.rows[r]
        self._fill_table()

    def _cell_edited(self, item: QTableWidgetItem) -> None:
        """An edited cell changes its row where the value makes sense, and is put back where it does not."""
        r, c = item.row(), item.column()
        if r >= len(self.rows):
            return
        row, text = self.rows[r], item.text().strip()
        try:
            if c == 0:
                row.track_id = None if text in ("", "*") else int(text)
            elif c in (1, 2):
                value = int(text)
                start, end = (value, row.end) if c == 1 else (row.start, value)
                if not 0 <= start <= end:
                    raise ValueError
                row.start, row.end = start, end
            elif text and text != "background" and "," not in text:
                row.label = text
            else:
                raise ValueError
        except ValueError:
            self.message.emit(f"row {r + 1}: {text!r} is not a valid {['track', 'start', 'end', 'label'][c]}")
        self._fill_table()

    def _fill_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            values = ("*" if row.track_id is None else str(row.track_id), str(row.start), str(row.end), row.label)
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(v))
        self.table.blockSignals(False)
        self.timeline.set_labels([LabelSpan(r.track_id, r.start, r.end, r.label) for r in self.rows])
        self._sync()

    def save(self) -> Path | None:
        from models.action.recordings import write_labels

        if self.files is None or not self.rows:
            self.message.emit("nothing to save: add a label first")
            return None
        try:
            write_labels(self.files.labels, self.rows)
        except OSError as exc:
            self.message.emit(f"cannot save {self.files.labels}: {exc}")
            return None
        self.message.emit(f"labels saved to {self.files.labels}")
        return self.files.labels

    def load(self) -> bool:
        """The saved labels.csv again; a file that cannot be read leaves the rows as they are, with one line in
        the status bar saying why."""
        from models.action.recordings import read_labels

        if self.files is None:
            return False
        try:
            rows = read_labels(self.files.labels)
        except PerceptError as exc:
            self.message.emit(f"labels not loaded: {exc}")
            return False
        self.rows = rows
        self._fill_table()
        self.message.emit(f"{len(rows)} labels loaded from {self.files.labels.name}")
        return True

    # ----- training -----------------------------------------------------------------------------------------
    def train(self, epochs: int = TEACH_EPOCHS) -> None:
        from models.action.teach import TeachCancelled, TeachOptions, train_from_labels

        if self.job is not None or self.files is None:
            return
        if not self.rows or self.save() is None:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = self.out_dir / "taught" / f"{self.files.recording.stem}-{stamp}"
        labels = self.files.labels
        options = TeachOptions(epochs=epochs, device="cpu")
        self.losses = []

        def run(job: _Job) -> None:
            try:
                result = train_from_labels([labels], out, options, on_progress=job.messages.put, cancel=job.cancel)
                job.messages.put({"done": "train", "result": result})
            except TeachCancelled:
                job.messages.put({"cancelled": True})
            except Exception as exc:
                job.messages.put({"error": f"training failed: {exc}"})

        self._start(run, f"Training on {len(self.rows)} labels...")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel.set()
            self.message.emit("cancelling...")

    def action_stage(self):
        for node in self.session.graph.nodes.values():
            if node.stage.type_name == "online_action":
                return node.stage
        return None

    def use(self, checkpoint: Path) -> bool:
        """Load ``checkpoint`` into the running action stage; the one it replaces can be restored."""
        stage = self.action_stage()
        if stage is None:
            self.message.emit("this graph has no online_action stage: the model was trained but is not in use "
                              f"({checkpoint})")
            return False
        try:
            previous = stage.load_checkpoint(checkpoint)
        except PerceptError as exc:
            self.message.emit(str(exc))
            return False
        self.previous_checkpoint = Path(previous)
        self.model_loaded.emit(str(checkpoint))
        self._sync()
        return True

    def restore(self) -> None:
        if self.previous_checkpoint is not None:
            back = self.previous_checkpoint
            if self.use(back):
                self.previous_checkpoint = None
                self.message.emit(f"action model restored: {back}")
                self._sync()

    # ----- jobs ---------------------------------------------------------------------------------------------
    def _start(self, work, text: str) -> None:
        job = _Job(threading.Thread(target=lambda: work(job), name="label-job", daemon=True))
        self.job = job
        self.progress.setValue(0)
        self.message.emit(text)
        job.thread.start()
        self.timer.start()
        self._sync()

    def _poll_job(self) -> None:
        job = self.job
        if job is None:
            self.timer.stop()
            return
        lines = self._analysis_out / "results.jsonl" if self._analysis_out is not None else None
        if lines is not None and lines.is_file() and self.files is not None:
            with lines.open("rb") as f:
                done = sum(1 for _ in f)
            total = self._analysis_total()
            if total:
                self.progress.setValue(min(99, int(100 * done / total)))
        while True:
            try:
                msg = job.messages.get_nowait()
            except queue.Empty:
                break
            self._handle(msg)

    def _analysis_total(self) -> int:
        if self._frame_count is None:
            from pipeline.sources import open_source

            try:
                with open_source(str(self.files.recording)) as src:
                    self._frame_count = src.frame_count or 0
            except Exception:
                self._frame_count = 0
        return self._frame_count

    def _handle(self, msg: dict) -> None:
        if "step" in msg and msg.get("steps"):
            self.progress.setValue(min(99, int(100 * msg["step"] / msg["steps"])))
            if msg.get("epoch") and msg.get("loss") is not None and msg["epoch"] > len(self.losses):
                self.losses.append(float(msg["loss"]))
                if self.plot is not None:
                    self.plot.getPlotItem().listDataItems()[0].setData(list(range(1, len(self.losses) + 1)),
                                                                        self.losses)
            return
        if "stage" in msg:
            return
        self.job.thread.join(timeout=5)
        self.job = None
        self._analysis_out = None
        self._frame_count = None
        self.timer.stop()
        self.progress.setValue(100 if "done" in msg else 0)
        if "error" in msg:
            self.message.emit(msg["error"])
        elif msg.get("cancelled"):
            self.message.emit("training cancelled; the action model in use is unchanged")
        elif msg.get("done") == "analysis":
            self._load_tracks()
            self.message.emit(f"analysed {msg['frames']} frames: {len(self.timeline.tracks)} tracks")
        elif msg.get("done") == "train":
            self.result = r = msg["result"]
            early = r.get("early_accuracy") or {}
            half = next((v for k, v in early.items() if "50" in str(k)), None)
            mAP = "-" if r.get("mAP") is None else f"{r['mAP']:.3f}"
            self.report.setText(f"{', '.join(r['classes'][1:])}: validation mAP {mAP}"
                                + (f", early accuracy at 50 % {half:.2f}" if half is not None else "")
                                + f" ({r.get('validation', '?')} frames), {r['seconds']:.0f} s")
            if self.use(Path(r["checkpoint"])):
                self.message.emit(f"trained and in use: {r['checkpoint']}")
        self._sync()

    def _sync(self) -> None:
        busy = self.job is not None
        has = self.files is not None
        self.analyse_button.setEnabled(has and not busy)
        self.add_button.setEnabled(has and not busy and self.track.count() > 0)
        for w in (self.save_button, self.delete_button):
            w.setEnabled(has and bool(self.rows))
        self.load_button.setEnabled(has and self.files.labels.is_file())
        self.train_button.setEnabled(has and not busy and bool(self.rows) and self.files.results.is_file())
        self.cancel_button.setEnabled(busy)
        self.restore_button.setEnabled(not busy and self.previous_checkpoint is not None)

    def close_jobs(self) -> None:
        """The window closes: a running job is cancelled and waited for (training stops at its next step)."""
        if self.job is not None:
            self.job.cancel.set()
            self.job.thread.join(timeout=30)


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _loss_plot():
    """A small loss-per-epoch plot (pyqtgraph), or None where it is not installed."""
    try:
        import pyqtgraph as pg
    except ImportError:
        return None
    plot = pg.PlotWidget()
    plot.setMinimumHeight(90)
    plot.setMaximumHeight(140)
    plot.setLabel("left", "loss")
    plot.setLabel("bottom", "epoch")
    plot.plot([], [], pen=pg.mkPen((90, 170, 255), width=2), symbol="o", symbolSize=5)
    return plot
