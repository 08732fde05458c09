"""The labelling timeline: one row per track of a recording showing where the track is present, its labelled
ranges on top, the playhead, and the range being selected.

Click a row to select its track and seek there; drag along a row to select a frame range (the selection is what
"Add" labels). Painted in one paintEvent, as the people panel is: a recording has a few tracks and a few thousand
frames, far cheaper to draw than to hold as widgets.
"""
from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import QWidget

ROW_H = 18
LEFT = 44  # px for the track names
PRESENT = QColor(90, 120, 160)
SELECTED_ROW = QColor(60, 60, 70)


@dataclass(frozen=True)
class TrackPresence:
    """Where one track is present: (first, last) frame spans, inclusive."""

    track_id: int
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LabelSpan:
    track_id: int | None  # None: every track
    start: int
    end: int
    label: str


def label_color(label: str) -> QColor:
    """A stable colour per label name."""
    h = sum(ord(c) * 31 ** i for i, c in enumerate(label)) % 360
    return QColor.fromHsv(h, 170, 235)


class LabelTimeline(QWidget):
    seek_requested = pyqtSignal(int)  # frame
    selection_changed = pyqtSignal(int, int, int)  # track, start, end (inclusive)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tracks: list[TrackPresence] = []
        self.labels: list[LabelSpan] = []
        self.frames = 0
        self.position = 0
        self.track: int | None = None
        self.selection: tuple[int, int] | None = None
        self._press: int | None = None
        self.setMinimumHeight(ROW_H * 3)
        self.setMouseTracking(False)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, ROW_H * max(3, len(self.tracks) + 1))

    # ----- state --------------------------------------------------------------------------------------------
    def set_tracks(self, tracks: list[TrackPresence], frames: int) -> None:
        self.tracks, self.frames = tracks, max(1, frames)
        if self.track not in [t.track_id for t in tracks]:
            self.track = tracks[0].track_id if tracks else None
        self.selection = None
        self.setMinimumHeight(ROW_H * max(3, len(tracks) + 1))
        self.update()

    def set_labels(self, labels: list[LabelSpan]) -> None:
        self.labels = labels
        self.update()

    def set_position(self, frame: int) -> None:
        if frame != self.position:
            self.position = frame
            self.update()

    def select(self, track: int, start: int, end: int) -> None:
        """Select ``start..end`` (inclusive, any order) on ``track``."""
        start, end = sorted((max(0, start), min(self.frames - 1, end)))
        self.track, self.selection = track, (start, end)
        self.selection_changed.emit(track, start, end)
        self.update()

    # ----- geometry -----------------------------------------------------------------------------------------
    def x_of(self, frame: float) -> float:
        return LEFT + (self.width() - LEFT - 4) * frame / max(1, self.frames)

    def frame_at(self, x: float) -> int:
        f = (x - LEFT) / max(1.0, self.width() - LEFT - 4) * self.frames
        return int(min(self.frames - 1, max(0, f)))

    def track_at(self, y: float) -> int | None:
        row = int(y // ROW_H) - 1  # row 0 is the frame ruler
        return self.tracks[row].track_id if 0 <= row < len(self.tracks) else None

    # ----- mouse --------------------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        track = self.track_at(event.position().y())
        frame = self.frame_at(event.position().x())
        if track is not None:
            self.track = track
        self._press = frame
        self.seek_requested.emit(frame)
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._press is not None and self.track is not None:
            frame = self.frame_at(event.position().x())
            if frame != self._press:
                self.select(self.track, self._press, frame)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._press is not None and self.track is not None:
            frame = self.frame_at(event.position().x())
            if frame != self._press:
                self.select(self.track, self._press, frame)
                self.seek_requested.emit(frame)
        self._press = None

    # ----- painting -----------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        p.setPen(QColor(170, 170, 170))
        if not self.tracks:
            p.drawText(self.rect().adjusted(8, 4, -8, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                       "No tracks: analyse the recording first")
            p.end()
            return
        step = max(1, self.frames // 10)
        for f in range(0, self.frames, step):
            x = self.x_of(f)
            p.drawLine(int(x), ROW_H - 5, int(x), ROW_H - 1)
            p.drawText(QRectF(x + 2, 0, 60, ROW_H - 4), Qt.AlignmentFlag.AlignLeft, str(f))
        for row, track in enumerate(self.tracks, start=1):
            y = row * ROW_H
            if track.track_id == self.track:
                p.fillRect(QRectF(0, y, self.width(), ROW_H), SELECTED_ROW)
            p.setPen(QColor(220, 220, 220))
            p.drawText(QRectF(4, y, LEFT - 6, ROW_H), Qt.AlignmentFlag.AlignVCenter, f"#{track.track_id}")
            for a, b in track.spans:
                p.fillRect(QRectF(self.x_of(a), y + 6, max(1.0, self.x_of(b + 1) - self.x_of(a)), ROW_H - 12),
                           PRESENT)
            for lab in self.labels:
                if lab.track_id is None or lab.track_id == track.track_id:
                    rect = QRectF(self.x_of(lab.start), y + 2, max(2.0, self.x_of(lab.end + 1) - self.x_of(lab.start)),
                                  ROW_H - 4)
                    color = label_color(lab.label)
                    color.setAlpha(170)
                    p.fillRect(rect, color)
                    p.setPen(QColor(20, 20, 20))
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, lab.label)
            if self.selection is not None and track.track_id == self.track:
                a, b = self.selection
                p.setPen(QColor(255, 255, 255))
                p.drawRect(QRectF(self.x_of(a), y + 1, max(2.0, self.x_of(b + 1) - self.x_of(a)), ROW_H - 2))
        x = self.x_of(self.position)
        p.setPen(QColor(255, 80, 80))
        p.drawLine(int(x), 0, int(x), self.height())
        p.end()


def presence_spans(frames: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted frame numbers -> runs of consecutive frames (inclusive spans)."""
    spans: list[tuple[int, int]] = []
    for f in frames:
        if spans and f <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], f))
        else:
            spans.append((f, f))
    return tuple(spans)
