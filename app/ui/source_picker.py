"""The source picker: plugged-in cameras (``pipeline.devices.list_devices``, probed on a thread: opening each
/dev/video node takes time), the bundled sample, file and folder dialogs, the recent list, and the mode
(offline / live) for recordings. It only says what was chosen (``chosen(spec, mode)``); the controller opens it."""
from __future__ import annotations

import logging
import threading

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QToolButton, QWidget

from app.ui.sources import SAMPLE_SPEC
from pipeline.modes import LIVE, OFFLINE

log = logging.getLogger(__name__)
VIDEO_FILTER = ("Recordings (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.ts *.wmv *.bag *.db3);;"
                "All files (*)")


class SourcePicker(QWidget):
    chosen = pyqtSignal(str, str)  # spec, mode ("" = the default for the source)
    cameras_found = pyqtSignal(list)

    def __init__(self, recent: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setToolTip("Source: cameras, the bundled sample, recent files")
        self.combo.activated.connect(self._activated)
        self.mode = QComboBox()
        self.mode.addItems([OFFLINE, LIVE])
        self.mode.setToolTip("Recordings: offline (every frame, lossless) or live (newest frame wins, drops)")
        file_button = QToolButton(text="File...")
        file_button.clicked.connect(self.pick_file)
        folder_button = QToolButton(text="Folder...")
        folder_button.clicked.connect(self.pick_folder)
        refresh = QToolButton(text="Cameras")
        refresh.setToolTip("Look for plugged-in cameras again")
        refresh.clicked.connect(self.refresh_cameras)
        for w in (self.combo, self.mode, file_button, folder_button, refresh):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 0, 2, 0)
        layout.addWidget(QLabel("Source:"))
        layout.addWidget(self.combo, 1)
        layout.addWidget(file_button)
        layout.addWidget(folder_button)
        layout.addWidget(refresh)
        layout.addWidget(QLabel("Mode:"))
        layout.addWidget(self.mode)
        self.cameras: list[tuple[str, str]] = []  # (label, spec)
        self.recent = list(recent)
        self.current: str | None = None
        self._probe_thread: threading.Thread | None = None
        self.cameras_found.connect(self._set_cameras)
        self._rebuild()

    # ----- entries ------------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        known = {SAMPLE_SPEC, *(s for _, s in self.cameras)}
        if self.current and self.current not in known:
            self.combo.addItem(f"Now: {short(self.current)}", self.current)
        for label, spec in self.cameras:
            self.combo.addItem(f"Camera: {label}", spec)
        self.combo.addItem("Bundled RGB-D sample", SAMPLE_SPEC)
        for spec in self.recent:
            if spec not in known and spec != self.current:
                self.combo.addItem(f"Recent: {short(spec)}", spec)
        index = self.combo.findData(self.current) if self.current else -1
        if index >= 0:
            self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def set_current(self, spec: str | None, recent: list[str] | None = None) -> None:
        self.current = spec
        if recent is not None:
            self.recent = list(recent)
        self._rebuild()

    def _activated(self, index: int) -> None:
        spec = self.combo.itemData(index)
        if spec:
            self.choose(spec)

    def choose(self, spec: str) -> None:
        live = spec.startswith(("webcam", "realsense")) and not spec.lower().endswith((".bag", ".db3"))
        self.chosen.emit(spec, "" if live else self.mode.currentText())

    # ----- dialogs ------------------------------------------------------------------------------------------
    def pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording", "", VIDEO_FILTER)
        if path:
            self.choose(path)

    def pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an images folder (colour, depth/, intrinsics.yaml)")
        if path:
            self.choose(path)

    # ----- cameras ------------------------------------------------------------------------------------------
    def refresh_cameras(self) -> None:
        if self._probe_thread is not None and self._probe_thread.is_alive():
            return
        self._probe_thread = threading.Thread(target=self._probe, name="camera-probe", daemon=True)
        self._probe_thread.start()

    def join(self, timeout_s: float = 5.0) -> None:
        """Wait for a camera probe still running (the window closes with no thread left behind)."""
        if self._probe_thread is not None:
            self._probe_thread.join(timeout_s)

    def _probe(self) -> None:
        try:
            from pipeline.devices import list_devices

            found = [(f"{d.name} ({d.source})", d.source) for d in list_devices()]
        except Exception as exc:  # no camera stack: nothing to list
            log.warning("listing cameras failed: %s", exc)
            found = []
        try:
            self.cameras_found.emit(found)
        except RuntimeError:  # the window closed meanwhile
            pass

    def _set_cameras(self, found: list) -> None:
        self.cameras = [tuple(x) for x in found]
        self._rebuild()


def short(spec: str, width: int = 48) -> str:
    return spec if len(spec) <= width else "..." + spec[-(width - 3):]
