"""The stages panel: an on/off switch per stage (``Session.set_enabled``), its p50 latency and a small plot of it
over the last seconds, and pyqtgraph plots of FPS, end-to-end latency, drops and queue depth; all from
``Session.snapshot()``, which the window polls a few times a second.

Cheap on the UI thread on purpose (measured: eleven pyqtgraph plots redrawn at 4 Hz took over half of the UI
thread on 2 cores while the graph ran, and their Python painting competes with the graph for the GIL): the
per-stage sparklines are painted with one QPainter polyline each, the four totals share one pyqtgraph layout
with a fixed time axis, y ranges that change only when the data leaves them, and half of them redrawn per poll;
every label has a fixed width so that new numbers never re-run the layout.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QSize, Qt
from PyQt6.QtGui import QColor, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QCheckBox, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

HISTORY_S = 30.0
PLOT_SERIES = (("fps", ["fps"]), ("e2e", ["e2e_p50", "e2e_p95"]), ("drops", ["drops"]), ("queue", ["queue"]))


class History:
    """(time, value) pairs of the last HISTORY_S seconds."""

    def __init__(self) -> None:
        self.t: deque[float] = deque()
        self.v: deque[float] = deque()

    def add(self, t: float, value: float | None) -> None:
        self.t.append(t)
        self.v.append(np.nan if value is None else float(value))
        while self.t and self.t[0] < t - HISTORY_S:
            self.t.popleft()
            self.v.popleft()

    def arrays(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.t, np.float64) - now, np.asarray(self.v, np.float64)

    def clear(self) -> None:
        self.t.clear()
        self.v.clear()

    @property
    def last(self) -> float | None:
        return self.v[-1] if self.v and np.isfinite(self.v[-1]) else None


class Sparkline(QWidget):
    """The last HISTORY_S seconds of one series as a polyline scaled to its own maximum."""

    def __init__(self, color: tuple[int, int, int] = (90, 170, 255)) -> None:
        super().__init__()
        self.pen = QPen(QColor(*color), 1.5)
        self.x = np.zeros(0)
        self.y = np.zeros(0)
        self.setMinimumSize(80, 26)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, 26)

    def set_data(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(28, 28, 30))
        finite = np.isfinite(self.y)
        if finite.any():
            top = float(np.nanmax(self.y)) or 1.0
            w, h = self.width() - 2, self.height() - 4
            xs = 1 + (self.x / HISTORY_S + 1.0) * w
            ys = 2 + h - np.clip(self.y / top, 0, 1) * h
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(self.pen)
            for run in _runs(finite):
                p.drawPolyline(QPolygonF([QPointF(float(a), float(b)) for a, b in zip(xs[run], ys[run])]))
        p.end()


def _runs(mask: np.ndarray) -> list[slice]:
    """Slices of consecutive True values (a gap where a stage was off)."""
    runs, start = [], None
    for i, ok in enumerate(mask):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            runs.append(slice(start, i))
            start = None
    if start is not None:
        runs.append(slice(start, len(mask)))
    return runs


class _StickyRange:
    """A y range that changes only when the data leaves it or uses less than a quarter of it."""

    def __init__(self) -> None:
        self.top = 0.0

    def fit(self, values: np.ndarray) -> float | None:
        finite = values[np.isfinite(values)]
        peak = float(finite.max()) if finite.size else 0.0
        if peak > self.top or peak < self.top / 4:
            self.top = _nice(max(peak * 1.2, 1.0))
            return self.top
        return None


def _nice(value: float) -> float:
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


class StagesPanel(QWidget):
    def __init__(self, stages: list[str], set_enabled: Callable[[str, bool], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_enabled = set_enabled
        self.checks: dict[str, QCheckBox] = {}
        self.p50: dict[str, QLabel] = {}
        self.sparks: dict[str, Sparkline] = {}
        self.latency = {name: History() for name in stages}
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        grid.addWidget(QLabel("<b>Stage</b>"), 0, 0)
        grid.addWidget(QLabel("<b>p50</b>"), 0, 1)
        grid.addWidget(QLabel(f"<b>latency, last {HISTORY_S:.0f} s</b>"), 0, 2)
        for row, name in enumerate(stages, 1):
            check = QCheckBox(name)
            check.setChecked(True)
            check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            check.setToolTip(f"Switch {name} off: frames pass through it, its outputs absent")
            check.toggled.connect(lambda on, n=name: self.set_enabled(n, on))
            label = QLabel("-")
            label.setFixedWidth(72)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.checks[name], self.p50[name], self.sparks[name] = check, label, Sparkline()
            grid.addWidget(check, row, 0)
            grid.addWidget(label, row, 1)
            grid.addWidget(self.sparks[name], row, 2)
        grid.setColumnStretch(2, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setFixedHeight(36)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.totals = {k: History() for k in ("fps", "e2e_p50", "e2e_p95", "drops", "queue")}
        self.graphs = pg.GraphicsLayoutWidget()
        self.graphs.setMinimumHeight(330)
        self.graphs.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.plots: dict[str, pg.PlotItem] = {}
        self.ranges: dict[str, _StickyRange] = {}
        self.total_curves: dict[str, pg.PlotDataItem] = {}
        specs = (("fps", "FPS", [("fps", (120, 220, 120))]),
                 ("e2e", "end-to-end latency, ms (p50, p95)", [("e2e_p50", (255, 200, 80)),
                                                              ("e2e_p95", (255, 120, 60))]),
                 ("drops", "drops per second", [("drops", (255, 90, 90))]),
                 ("queue", "frames in flight + queued", [("queue", (200, 140, 255))]))
        for i, (key, title, series) in enumerate(specs):
            plot = self.graphs.addPlot(row=i, col=0)
            plot.setTitle(title, size="9pt")
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setXRange(-HISTORY_S, 0, padding=0)
            plot.setYRange(0, 1, padding=0)
            plot.enableAutoRange(False, False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(40)
            if i < len(specs) - 1:
                plot.getAxis("bottom").setStyle(showValues=False)
            else:
                plot.setLabel("bottom", "seconds")
            for name, color in series:
                self.total_curves[name] = plot.plot(pen=pg.mkPen(color, width=1.5))
            self.plots[key] = plot
            self.ranges[key] = _StickyRange()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid)
        layout.addWidget(self.summary)
        layout.addWidget(self.graphs, 1)
        self._drops_prev: tuple[float, int] | None = None
        self._turn = 0

    def update_snapshot(self, snap: dict[str, Any], stream_id: str | None) -> None:
        now = time.monotonic()
        stream = snap.get("streams", {}).get(stream_id) if stream_id else None
        for name, info in snap.get("stages", {}).items():
            check = self.checks.get(name)
            if check is None:
                continue
            enabled = bool(info.get("enabled", True))
            if check.isChecked() != enabled:
                check.blockSignals(True)
                check.setChecked(enabled)
                check.blockSignals(False)
            if stream is not None:
                p50 = stream["stages"].get(name, {}).get("latency_ms", {}).get("p50")
                self.latency[name].add(now, p50 if enabled else None)
                self.sparks[name].set_data(*self.latency[name].arrays(now))
            last = self.latency[name].last
            self.p50[name].setText("off" if not enabled else (f"{last:.1f} ms" if last is not None else "-"))
        if stream is None:
            return
        e2e = stream.get("end_to_end_ms", {})
        queued = sum(int(s.get("queue_depth", 0)) for s in snap.get("stages", {}).values())
        drops = int(stream.get("drops", 0))
        rate = 0.0
        if self._drops_prev is not None and now > self._drops_prev[0]:
            rate = max(0, drops - self._drops_prev[1]) / (now - self._drops_prev[0])
        self._drops_prev = (now, drops)
        for key, value in (("fps", stream.get("fps")), ("e2e_p50", e2e.get("p50")), ("e2e_p95", e2e.get("p95")),
                           ("drops", rate), ("queue", stream.get("in_flight", 0) + queued)):
            self.totals[key].add(now, value)
        self.summary.setText(
            f"{stream.get('fps', 0):.1f} fps, end-to-end p50 {_ms(e2e.get('p50'))}, p95 {_ms(e2e.get('p95'))}; "
            f"{drops} dropped; {stream.get('in_flight', 0)} in flight (max {stream.get('max_in_flight')}); "
            f"{snap.get('ui_skipped', 0)} results not painted")
        # two of the four plots per poll: each is redrawn at half the poll rate, and no single repaint of
        # the plots holds the UI thread (and the GIL) long
        self._turn = (self._turn + 1) % 2
        for key, names in PLOT_SERIES[self._turn::2]:
            values = []
            for name in names:
                x, y = self.totals[name].arrays(now)
                self.total_curves[name].setData(x, y, connect="finite")
                values.append(y)
            top = self.ranges[key].fit(np.concatenate(values))
            if top is not None:
                self.plots[key].setYRange(0, top, padding=0)

    def reset(self) -> None:
        """A new stream: its plots start empty."""
        self._drops_prev = None
        for history in (*self.latency.values(), *self.totals.values()):
            history.clear()


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "-"
