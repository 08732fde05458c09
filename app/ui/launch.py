"""Starting the UI: ``percept ui`` (window, ``--screenshot``, ``--bench``) and ``run_ui``.

Screenshot mode runs the source until N results have been delivered and shown, waits for the metrics to be
polled, saves ``window.grab()`` and exits 0: the README's pictures and the UI tests come from it.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from app.display import has_display, offscreen_unless_display, qt_platform_chosen
from app.exit_codes import EXIT_OK
from app.ui.qt_app import ensure_app, make_window, show_view
from pipeline import endings
from pipeline.modes import check_mode
from pipeline.errors import PerceptError

log = logging.getLogger(__name__)
SCREENSHOT_SIZE = (1360, 860)
def run_window(session, source: Any = None, mode: str | None = None, screenshot: Path | None = None,
               after: int = 30, size: tuple[int, int] | None = None, view: str | None = None,
               timeout_s: float | None = None) -> int:
    """Show the window on ``source``; with ``screenshot``: save it after ``after`` frames and exit."""
    app = ensure_app()
    window = make_window(session, probe_cameras=screenshot is None)
    if size or screenshot is not None:
        window.resize(*(size or SCREENSHOT_SIZE))
    if view:
        show_view(window, view)
    window.show()
    window.open_source(source, mode)
    if screenshot is None:
        code = app.exec()
        return int(code or 0)
    return _screenshot(app, window, Path(screenshot), after, timeout_s or 120.0 + 2.0 * after)


def _screenshot(app, window, path: Path, after: int, timeout_s: float) -> int:
    from PyQt6.QtCore import QEventLoop, QTimer

    c = window.controller
    state = {"code": None, "ready_at": None}
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        ended = c.last_report is not None and c.last_info is not None
        enough = c.frames_delivered >= after or ended
        shown = window.last_frame is not None and (c.latest is None or window.last_frame is c.latest)
        if c.last_report is not None and endings.failed(c.last_report.ended_by) \
                and window.last_frame is None:
            log.error("screenshot: the stream failed: %s", c.last_report.error)
            state["code"] = 1
        elif window.last_error and window.last_frame is None and not c.busy and not c.running:
            log.error("screenshot: %s", window.last_error)
            state["code"] = 1
        elif enough and shown:
            if state["ready_at"] is None:
                state["ready_at"] = time.monotonic()
                c.rerender()  # a final draw at the view's current size
            elif time.monotonic() - state["ready_at"] > 0.8:  # a few metric polls and paints later
                path.parent.mkdir(parents=True, exist_ok=True)
                state["code"] = 0 if window.grab().save(str(path)) else 1
        elif time.monotonic() > deadline:
            log.error("screenshot: only %d frame(s) after %.0f s", c.frames_delivered, timeout_s)
            state["code"] = 1
        if state["code"] is not None:
            loop.quit()

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(100)
    loop.exec()
    timer.stop()
    window.close()
    app.processEvents()
    if state["code"] == 0:
        print(f"screenshot saved to {path} after {c.frames_delivered} frames", file=sys.stderr)
    return int(state["code"])


def ui_command(source: str | None, graph: str | None, device: str, mode: str | None, plugins: list[str],
               screenshot: Path | None, after: int, bench: bool, frames: int, size: str | None,
               view: str | None) -> int:
    """``percept ui``: the window (needs a display), or a screenshot / benchmark (offscreen when no display)."""
    if mode is not None:
        check_mode(mode, "--mode")
    if not has_display() and not qt_platform_chosen() and screenshot is None and not bench:
        raise PerceptError("no display (DISPLAY / WAYLAND_DISPLAY unset): run `percept run --headless`, or "
                           "`xvfb-run percept ui`, or set QT_QPA_PLATFORM=offscreen")
    offscreen_unless_display()
    parsed_size = _parse_size(size) if size else None
    if bench:
        from app.ui.responsiveness_bench import print_bench, run_bench

        print_bench(run_bench(graph or "default", source, frames, device))
        return EXIT_OK
    from app.session import Session

    session = Session.from_options(graph, device, plugins)
    return run_window(session, source, mode, screenshot=screenshot, after=after, size=parsed_size, view=view)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise PerceptError(f"--size must be WIDTHxHEIGHT, e.g. 1360x860, got {text!r}") from None
