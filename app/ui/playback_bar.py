"""Player controls for recordings: play/pause, step, seek slider, speed, loop. It drives a ``PlaybackSource``
(thread-safe controls; the stream's reader thread obeys them), and asks the window to restart a recording that
already ended. Live cameras show "live" and no controls."""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from pipeline.sources.playback import PlaybackSource

SPEEDS = [("0.25x", 0.25), ("0.5x", 0.5), ("1x", 1.0), ("2x", 2.0), ("4x", 4.0), ("max", 0.0)]


class PlaybackBar(QWidget):
    restart_requested = pyqtSignal(int, bool)  # frame to start at, paused

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.playback: PlaybackSource | None = None
        self.ended = False
        self.play = QToolButton(text="Pause")
        self.play.setToolTip("Play / pause (Space)")
        self.play.clicked.connect(self.toggle)
        self.back = QToolButton(text="<")
        self.back.setToolTip("Step one frame back (Left)")
        self.back.clicked.connect(lambda: self.step(-1))
        self.fwd = QToolButton(text=">")
        self.fwd.setToolTip("Step one frame (Right)")
        self.fwd.clicked.connect(lambda: self.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek")
        self.slider.sliderReleased.connect(lambda: self.seek(self.slider.value()))
        self.slider.actionTriggered.connect(self._slider_action)
        self.position = QLabel("-")
        self.position.setFixedWidth(96)
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.speed = QComboBox()
        for label, value in SPEEDS:
            self.speed.addItem(label, value)
        self.speed.setCurrentIndex(2)
        self.speed.setToolTip("Speed (x the recording's frame rate; max: as fast as the graph goes)")
        self.speed.currentIndexChanged.connect(self._speed_changed)
        self.loop = QCheckBox("Loop")
        self.loop.toggled.connect(lambda on: self.playback is not None and self.playback.set_loop(on))
        for w in (self.play, self.back, self.fwd, self.slider, self.speed, self.loop):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for w in (self.play, self.back, self.fwd):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position)
        layout.addWidget(QLabel("Speed:"))
        layout.addWidget(self.speed)
        layout.addWidget(self.loop)
        self.set_playback(None, live=False)

    @property
    def speed_value(self) -> float:
        return float(self.speed.currentData())

    def set_playback(self, playback: PlaybackSource | None, live: bool) -> None:
        self.playback = playback
        self.ended = False
        enabled = playback is not None
        for w in (self.play, self.back, self.fwd, self.slider, self.speed, self.loop):
            w.setEnabled(enabled)
        if playback is not None:
            self.slider.setRange(0, max(0, (playback.frame_count or 1) - 1))
            playback.set_loop(self.loop.isChecked())
        self.position.setText("live" if live else "-")
        self._sync_button()

    def set_ended(self) -> None:
        """The recording's stream ended: Play and seeking start it again."""
        self.ended = True
        self._sync_button()

    def show_position(self, seq: int) -> None:
        if self.playback is None:
            return
        total = self.playback.frame_count
        self.position.setText(f"{seq + 1} / {total}" if total else f"{seq + 1}")
        if total and self.slider.maximum() != total - 1:
            self.slider.setRange(0, total - 1)
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(seq)
            self.slider.blockSignals(False)

    # ----- actions ------------------------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.playback is None:
            return
        if self.ended:
            self.restart_requested.emit(0, False)
            return
        self.playback.toggle()
        self._sync_button()

    def step(self, frames: int) -> None:
        pb = self.playback
        if pb is None:
            return
        if frames < 0:
            shown = max(0, pb.position - 1)  # the frame on screen (the last one delivered)
            self.seek(max(0, shown + frames), paused=True)
            return
        if self.ended:
            return
        pb.step(frames)
        self._sync_button()

    def seek(self, frame: int, paused: bool | None = None) -> None:
        pb = self.playback
        if pb is None:
            return
        if paused:
            pb.pause()
        if self.ended:
            self.restart_requested.emit(frame, pb.paused if paused is None else paused)
            return
        pb.seek(frame)
        self._sync_button()

    def _slider_action(self, action: int) -> None:
        if not self.slider.isSliderDown():  # page clicks and keys on the slider: seek at once
            self.seek(self.slider.sliderPosition())

    def _speed_changed(self) -> None:
        if self.playback is not None:
            self.playback.set_speed(self.speed_value)

    def _sync_button(self) -> None:
        paused = self.playback is None or self.playback.paused or self.ended
        self.play.setText("Play" if paused else "Pause")
