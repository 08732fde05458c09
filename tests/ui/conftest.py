"""UI test setup: offscreen Qt (tests/conftest.py), settings in a temporary file, a window factory that always
closes what it opened, and helpers to wait for frames."""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from app.session import Session  # noqa: E402
from app.ui.qt_app import ensure_app  # noqa: E402
from app.ui.main_window import MainWindow  # noqa: E402
from app.ui.settings import UiSettings, open_settings  # noqa: E402
from app.ui.sources import SAMPLE_SPEC  # noqa: E402

SIZE = (1280, 800)


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    path = tmp_path / "settings" / "ui.ini"
    monkeypatch.setenv("PERCEPT_UI_SETTINGS", str(path))
    return path


@pytest.fixture
def open_window(qtbot, tmp_path, settings_file):
    """open_window(graph, source=..., speed=0) -> a shown MainWindow on a fresh session; closed at the end."""
    ensure_app()
    windows: list[MainWindow] = []

    def make(graph: str = "bench", source=SAMPLE_SPEC, speed: float = 0.0, mode: str | None = None,
             session: Session | None = None, wait: int = 1, loop: bool = False, **kw) -> MainWindow:
        session = session or Session.from_options(graph, device="cpu")
        window = MainWindow(session, UiSettings(open_settings(str(settings_file))), tmp_path / "out", speed=speed,
                            probe_cameras=False, **kw)
        window.resize(*SIZE)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        window.playback.loop.setChecked(loop)
        if source is not None:
            window.open_source(source, mode)
            if wait:
                wait_frames(qtbot, window, wait)
        return window

    yield make
    for window in windows:
        window.close()


def wait_frames(qtbot, window: MainWindow, n: int = 1, timeout_ms: int = 60_000) -> None:
    """Until ``n`` more frames have been painted."""
    target = window.frames_shown + n
    try:
        qtbot.waitUntil(lambda: window.frames_shown >= target, timeout=timeout_ms)
    except Exception:
        # the stacks of every thread go to the real stderr (the CI log), to find what waits on what. (A stall seen
        # before was a short clip played at full speed ending before n frames were painted: the painter shows the
        # newest frame only; tests that wait for several frames of a short clip loop it.)
        import faulthandler

        print(f"no frame painted: {window.frames_shown} shown, waiting for {target}", file=sys.__stderr__)
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
        raise


def wait_started(qtbot, window: MainWindow, previous=None, timeout_ms: int = 60_000) -> None:
    qtbot.waitUntil(lambda: window.current_info is not None and window.current_info is not previous
                    and window.current_info is window.controller.info, timeout=timeout_ms)
