"""The main window: the video view in the middle, docks for depth, 3D, stages and people, the source picker and
record / snapshot on top, the player at the bottom, errors in the status bar (and a dialog where needed).

It owns no logic of its own beyond wiring: the controller talks to the session, the views draw what the render
thread made. Keys: Space pause, Left/Right step, R record, S snapshot, F full screen, Q quit.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence, QShortcut
from PyQt6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QScrollArea, QToolBar, QWidget)

from app.overlay import OverlayStyle
from app.session import Session
from app.ui.controller import SessionController, StreamInfo
from app.ui.depth_view import DepthView
from app.ui.labelling import LabellingPanel
from app.ui.people_panel import PeoplePanel
from app.ui.playback_bar import PlaybackBar
from app.ui.render import FrameRenderer, FrameView, to_qimage
from app.ui.scene_view import make_scene_view
from app.ui.settings import UiSettings
from app.ui.source_picker import SourcePicker
from app.ui.sources import SAMPLE_SPEC
from app.ui.stages_panel import StagesPanel
from app.ui.video_view import VideoView
from pipeline import endings
from pipeline.metrics import RunReport

log = logging.getLogger(__name__)
POLL_MS = 250  # metrics at 4 Hz
DEFAULT_LAYERS = {name: True for name in OverlayStyle.LAYERS} | {"face_mesh": False, "show_depth_inset": False}


class MainWindow(QMainWindow):
    def __init__(self, session: Session, settings: UiSettings | None = None, out_dir: Path | None = None,
                 owns_session: bool = True, speed: float = 1.0, probe_cameras: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Percept")
        self.setObjectName("PerceptMainWindow")
        self.settings = settings or UiSettings()
        self.out_dir = Path(out_dir or self.settings.value("paths/output", str(Path.cwd() / "runs" / "ui")))
        layers = {name: _as_bool(self.settings.value(f"layers/{name}", on)) for name, on in DEFAULT_LAYERS.items()}
        self.renderer = FrameRenderer(OverlayStyle(**layers))
        self.controller = SessionController(session, self.renderer, self.out_dir, owns_session, self)
        self.session = session
        self.frames_shown = 0
        self.last_frame: FrameView | None = None
        self.error_dialog: QMessageBox | None = None
        self.last_error: str | None = None
        self._last_error_status = 0.0
        self._last_position = 0.0
        self._position_timer = QTimer(self)  # the last frame's position always shows, even when throttled
        self._position_timer.setSingleShot(True)
        self._position_timer.timeout.connect(
            lambda: self.last_frame is not None and self.playback.show_position(self.last_frame.seq))
        self._closing = False
        self._mode_override: str | None = None
        self.current_info: StreamInfo | None = None  # the stream the window shows (set on the UI thread)

        self.video = VideoView(layers)
        self.video.layer_toggled.connect(self.set_layer)
        self.video.view.resized.connect(lambda s: setattr(self.renderer, "video_box", (s.width(), s.height())))
        self.setCentralWidget(self.video)
        self.depth = DepthView()
        self.depth.view.resized.connect(lambda s: setattr(self.renderer, "depth_box", (s.width(), s.height())))
        self.scene = make_scene_view()
        self.stages = StagesPanel(list(session.graph.order), self.controller.set_stage_enabled)
        self.people = PeoplePanel()
        self.labelling = LabellingPanel(session, self.out_dir)
        self.labelling.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.labelling.seek_requested.connect(lambda frame: self.playback.seek(frame, paused=True))
        stages_scroll = QScrollArea()
        stages_scroll.setWidget(self.stages)
        stages_scroll.setWidgetResizable(True)
        self.docks: dict[str, QDockWidget] = {}
        for key, title, widget, area in (
                ("depth", "Depth", self.depth, Qt.DockWidgetArea.RightDockWidgetArea),
                ("scene", "3D", self.scene, Qt.DockWidgetArea.RightDockWidgetArea),
                ("people", "People", self.people, Qt.DockWidgetArea.RightDockWidgetArea),
                ("stages", "Stages", stages_scroll, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("label", "Label", self.labelling, Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.tabifyDockWidget(self.docks["depth"], self.docks["scene"])
        self.docks["label"].hide()  # View > Label, or Teach an action...
        self.docks["depth"].raise_()
        self.docks["depth"].visibilityChanged.connect(lambda on: setattr(self.renderer, "want_depth", on))
        self.docks["scene"].visibilityChanged.connect(
            lambda on: setattr(self.renderer, "want_cloud", bool(on and self.scene.available)))
        self.docks["scene"].visibilityChanged.connect(lambda on: on and self._refresh_scene())
        self.renderer.want_cloud = False

        self.picker = SourcePicker(self.settings.recent())
        self.picker.chosen.connect(lambda spec, mode: self.open_source(spec, mode or None))
        self.picker.mode.currentTextChanged.connect(self._mode_changed)
        self.playback = PlaybackBar()
        self.playback.speed.setCurrentIndex(max(0, self.playback.speed.findData(float(speed))))
        self.playback.restart_requested.connect(self.restart)
        self._build_toolbars()
        self._build_menus()
        self._build_shortcuts()
        self.status_label = QLabel("")
        self.status_label.setFixedWidth(300)  # new numbers never re-run the window's layout
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.status_label)

        c = self.controller
        c.frame_ready.connect(self._show_frame)
        c.started.connect(self._on_started)
        c.ended.connect(self._on_ended)
        c.failed.connect(self.show_error)
        c.busy_changed.connect(lambda busy: busy and self.statusBar().showMessage("Opening..."))
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        self.resize(1360, 860)
        self.resizeDocks([self.docks["stages"], self.docks["depth"]], [400, 400], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["depth"], self.docks["people"]], [520, 260], Qt.Orientation.Vertical)
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        if probe_cameras:
            self.picker.refresh_cameras()

    # ----- building -----------------------------------------------------------------------------------------
    def _build_toolbars(self) -> None:
        top = QToolBar("Source")
        top.setObjectName("toolbar-source")
        top.setMovable(False)
        top.addWidget(self.picker)
        self.record_action = QAction("Record", self)
        self.record_action.setCheckable(True)
        self.record_action.setToolTip("Record the source (RealSense: .db3; others: images folder) and results (R)")
        self.record_action.toggled.connect(self.set_recording)
        self.snapshot_action = QAction("Snapshot", self)
        self.snapshot_action.setToolTip("Save the video view with overlays as PNG (S)")
        self.snapshot_action.triggered.connect(self.snapshot)
        top.addSeparator()
        top.addAction(self.record_action)
        top.addAction(self.snapshot_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)
        bottom = QToolBar("Playback")
        bottom.setObjectName("toolbar-playback")
        bottom.setMovable(False)
        bottom.addWidget(self.playback)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bottom)
        for bar in (top, bottom):
            for w in bar.findChildren(QWidget):
                if w.focusPolicy() != Qt.FocusPolicy.NoFocus and not isinstance(w, (QLabel,)):
                    w.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Open file...", self.picker.pick_file)
        file_menu.addAction("Open folder...", self.picker.pick_folder)
        file_menu.addAction("Bundled sample", lambda: self.picker.choose(SAMPLE_SPEC))
        self.recent_menu = file_menu.addMenu("Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self.record_action)
        file_menu.addAction(self.snapshot_action)
        file_menu.addSeparator()
        file_menu.addAction("Quit", self.close)
        view = self.menuBar().addMenu("&View")
        layers = view.addMenu("Layers")
        for action in self.video.actions_by_layer.values():
            layers.addAction(action)
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction("Full screen", self.toggle_full_screen)
        actions = self.menuBar().addMenu("&Actions")
        actions.addAction("Teach an action...", self.show_labelling)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for spec in self.settings.recent():
            self.recent_menu.addAction(spec, lambda s=spec: self.picker.choose(s))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _build_shortcuts(self) -> None:
        ctx = Qt.ShortcutContext.WindowShortcut
        for key, slot in ((Qt.Key.Key_Space, self.playback.toggle), (Qt.Key.Key_Right, lambda: self.playback.step(1)),
                          (Qt.Key.Key_Left, lambda: self.playback.step(-1)),
                          (Qt.Key.Key_R, lambda: self.record_action.toggle()), (Qt.Key.Key_S, self.snapshot),
                          (Qt.Key.Key_F, self.toggle_full_screen), (Qt.Key.Key_Q, self.close),
                          (Qt.Key.Key_Escape, lambda: self.isFullScreen() and self.toggle_full_screen()),
                          (Qt.Key.Key_BracketLeft, lambda: self._label_key(self.labelling.mark_start)),
                          (Qt.Key.Key_BracketRight, lambda: self._label_key(self.labelling.mark_end))):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(ctx)
            shortcut.activated.connect(slot)

    def show_labelling(self) -> None:
        self.docks["label"].show()
        self.docks["label"].raise_()

    def _label_key(self, mark) -> None:
        """[ and ]: the playhead is the first / last frame of the range being labelled (Label dock shown)."""
        if self.docks["label"].isVisible():
            mark()

    # ----- sources ------------------------------------------------------------------------------------------
    def open_source(self, source, mode: str | None = None, paused: bool = False, seek: int | None = None,
                    max_frames: int | None = None) -> None:
        """Stop the current stream and start ``source`` (spec, Source, or None for auto) on the same session."""
        if self.record_action.isChecked():
            self.record_action.setChecked(False)
        self._mode_override = mode
        self.playback.set_playback(None, live=False)
        self.controller.open(source, mode=mode, speed=self.playback.speed_value, loop=self.playback.loop.isChecked(),
                             paused=paused, seek=seek, max_frames=max_frames)

    def restart(self, frame: int, paused: bool, mode: str | None = None) -> None:
        """Play the recording again from ``frame`` (its stream ended, or the mode changed)."""
        info = self.controller.last_info
        if info is None:
            return
        mode = mode or self._mode_override
        if info.spec:
            self.open_source(info.spec, mode, paused=paused, seek=frame or None)
        elif info.playback is not None:
            self.open_source(info.playback.fresh(paused=paused), mode, seek=frame or None)

    def _mode_changed(self, mode: str) -> None:
        """The picker's mode applies to the recording playing now, from where it is."""
        info = self.current_info
        if info is None or info.live or info.playback is None or info.mode == mode:
            return
        self.restart(max(0, info.playback.position - 1), info.playback.paused, mode)

    def _on_started(self, info: StreamInfo) -> None:
        self.current_info = info
        if not info.live:
            self.picker.mode.blockSignals(True)
            self.picker.mode.setCurrentText(info.mode)
            self.picker.mode.blockSignals(False)
        self.stages.reset()
        self.playback.set_playback(info.playback, info.live)
        if info.spec:
            self.picker.set_current(info.spec, self.settings.add_recent(info.spec))
        what = f"{info.frame_count} frames" if info.frame_count else "live"
        fps = f" @ {info.fps:.0f} fps" if info.fps else ""
        self.statusBar().showMessage(f"{info.label}: {info.mode} mode, {what}{fps}")
        self.labelling.set_recording(_recording_path(info))  # after: a labels file it cannot read says so there
        self.setWindowTitle(f"Percept - {info.label}")
        if self.last_frame is None or self.last_frame.stream_id != info.stream_id:
            self.video.view.set_message("Waiting for the first frame...")

    def _on_ended(self, info: StreamInfo, report: RunReport) -> None:
        if self.record_action.isChecked():
            self.record_action.setChecked(False)
        if endings.failed(report.ended_by):
            self.show_error("The stream stopped", f"{info.label}: {report.error or report.ended_by}")
        elif report.ended_by != endings.STOPPED:
            self.statusBar().showMessage(f"{info.label}: finished after {report.frames_done} frames "
                                         f"({report.ended_by.replace('_', ' ')})")
        if info.playback is not None and self.controller.info is info:
            self.playback.set_ended()

    # ----- frames -------------------------------------------------------------------------------------------
    def _show_frame(self) -> None:
        frame = self.controller.take_frame()
        if frame is None or self._closing:
            return
        self.last_frame = frame
        self.frames_shown += 1
        self.video.view.set_image(frame.video)
        if self.renderer.want_depth:
            if frame.depth is not None:
                self.depth.show_frame(frame)
            elif frame.packet is not None and frame.packet.depth is None:
                self.depth.clear()
        if self.scene.available and self.renderer.want_cloud:
            self.scene.show_frame(frame)
        self.people.set_rows(frame.people)
        self.labelling.show_position(frame.seq)
        now = time.monotonic()
        if now - self._last_position > 0.1 or frame.seq == 0 or (frame.packet is not None
                                                                  and self.controller.frames_delivered < 3):
            self._last_position = now  # the slider and frame number at 10 Hz: each repaint costs the UI thread
            self.playback.show_position(frame.seq)
        else:
            self._position_timer.start(120)
        if frame.errors and time.monotonic() - self._last_error_status > 1.0:
            self._last_error_status = time.monotonic()
            first = frame.errors[0]
            self.statusBar().showMessage(f"frame {frame.seq}: stage {first.get('stage')}: {first.get('error')}", 3000)

    def _refresh_scene(self) -> None:
        """The 3D tab came to the front: make the GL view (first time), draw the newest frame with its cloud."""
        self.scene.ensure_view()
        self.renderer.want_cloud = self.scene.available
        self.controller.rerender()

    def set_layer(self, name: str, on: bool) -> None:
        self.renderer.set_layer(name, on)
        self.settings.set_value(f"layers/{name}", on)
        action = self.video.actions_by_layer.get(name)
        if action is not None and action.isChecked() != on:
            action.setChecked(on)
        self.controller.rerender()

    def poll(self) -> None:
        snap = self.controller.poll()
        info = self.controller.info
        self.stages.update_snapshot(snap, info.stream_id if info else None)
        stream = snap.get("streams", {}).get(info.stream_id) if info else None
        text = []
        if stream is not None:
            text.append(f"{stream['fps']:.1f} fps, {stream['frames_done']} frames")
        sink = self.controller.recorder.sink
        if sink is not None:
            text.append(f"REC {sink.frames} frames" + (f" ({sink.error})" if sink.error else ""))
        self.status_label.setText("   ".join(text))

    # ----- record, snapshot ---------------------------------------------------------------------------------
    def set_recording(self, on: bool) -> None:
        if on:
            sink = self.controller.start_recording()
            if sink is None:
                self.statusBar().showMessage("Nothing to record: no stream is running")
                self.record_action.blockSignals(True)
                self.record_action.setChecked(False)
                self.record_action.blockSignals(False)
                return
            self.statusBar().showMessage(f"Recording to {sink.folder}")
            return
        sink = self.controller.recorder.sink
        if sink is None:
            return
        self.controller.submit(self.controller.stop_recording)
        self.statusBar().showMessage(f"Recording saved to {sink.folder} (replay: percept run --source {sink.media})")

    def snapshot(self) -> Path | None:
        frame = self.controller.latest
        if frame is None:
            self.statusBar().showMessage("No frame to save yet")
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (frame.source_name or "frame"))[:40]
        path = self.out_dir / f"snapshot-{name}-{frame.seq:06d}-{time.strftime('%H%M%S')}.png"
        if not to_qimage(frame.overlay).save(str(path)):
            self.show_error("Snapshot failed", f"cannot write {path}")
            return None
        self.statusBar().showMessage(f"Snapshot saved to {path}")
        return path

    # ----- errors, window -----------------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """Status bar and a non-modal dialog: the window stays usable behind it."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message}")
        if self._closing:
            return
        if self.error_dialog is not None:
            self.error_dialog.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.error_dialog = box

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def closeEvent(self, event) -> None:  # noqa: N802
        self._closing = True
        self.timer.stop()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        if self.error_dialog is not None:
            self.error_dialog.close()
        self.labelling.close_jobs()
        self.controller.shutdown()
        self.picker.join()
        super().closeEvent(event)


def _recording_path(info: StreamInfo) -> Path | None:
    """What a recording stream plays (a video, a RealSense recording, an images folder such as Record writes),
    else None (cameras)."""
    if info.live or not info.spec:
        return None
    from pipeline.sources import parse_source_spec

    try:
        target = Path(parse_source_spec(info.spec).target)
    except Exception:
        return None
    return target if target.exists() else None


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)
