"""The people panel: a row per person (track id, distance from the camera, action with score bars).

Painted in one paintEvent rather than a table of widgets: rows change every frame and re-creating widgets
would cost the UI thread far more than drawing a few rectangles.
"""
from __future__ import annotations

import time

from PyQt6.QtCore import QRectF, QSize, Qt, QTimer
from PyQt6.QtGui import QColor, QPainter
from PyQt6.QtWidgets import QScrollArea, QWidget

from app.ui.render import PersonRow

ROW_H = 58
MIN_INTERVAL_S = 0.1


class _Rows(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[PersonRow] = []
        self.setMinimumWidth(220)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(280, max(ROW_H, ROW_H * len(self.rows)))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        if not self.rows:
            p.setPen(QColor(180, 180, 180))
            p.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignTop, "No people in view")
            p.end()
            return
        w = self.width()
        for i, row in enumerate(self.rows):
            y = i * ROW_H
            color = QColor(*row.color)
            p.fillRect(QRectF(0, y + 2, 6, ROW_H - 4), color)
            p.setPen(QColor(235, 235, 235))
            ident = f"#{row.track_id}" if row.track_id >= 0 else "untracked"
            dist = f"{row.distance_m:.2f} m" if row.distance_m is not None else "distance -"
            p.drawText(QRectF(12, y + 2, w - 16, 18), Qt.AlignmentFlag.AlignLeft, f"{ident}   {dist}")
            if row.action is not None:
                p.drawText(QRectF(12, y + 2, w - 16, 18), Qt.AlignmentFlag.AlignRight,
                           f"{row.action} {row.action_score:.2f}")
            for j, (label, score) in enumerate(row.scores[:3]):
                by = y + 22 + j * 11
                p.fillRect(QRectF(90, by, w - 100, 8), QColor(60, 60, 66))
                p.fillRect(QRectF(90, by, (w - 100) * max(0.0, min(1.0, score)), 8),
                           color if j == 0 else QColor(130, 130, 140))
                p.setPen(QColor(200, 200, 200))
                p.drawText(QRectF(12, by - 3, 76, 12), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                           label[:12])
            if not row.scores:
                p.setPen(QColor(150, 150, 150))
                p.drawText(QRectF(12, y + 22, w - 16, 14), Qt.AlignmentFlag.AlignLeft, "no action stage")
            p.setPen(QColor(55, 55, 60))
            p.drawLine(0, y + ROW_H - 1, w, y + ROW_H - 1)
        p.end()


class PeoplePanel(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inner = _Rows()
        self.setWidget(self.inner)
        self.setWidgetResizable(True)
        self._last = 0.0
        self._pending: list[PersonRow] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._pending is not None and self.set_rows(self._pending, True))

    @property
    def rows(self) -> list[PersonRow]:
        return self.inner.rows

    def set_rows(self, rows: list[PersonRow], force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < MIN_INTERVAL_S:
            self._pending = rows  # shown when the interval is over, so the last frame's rows always appear
            if not self._timer.isActive():
                self._timer.start(int((MIN_INTERVAL_S - (now - self._last)) * 1000) + 1)
            return
        self._last = now
        self._pending = None
        changed = len(rows) != len(self.inner.rows)
        self.inner.rows = rows
        if changed:
            self.inner.setMinimumHeight(max(ROW_H, ROW_H * len(rows)))
        self.inner.update()
