"""The process's QApplication and the main window, made the same way by `percept ui`, the UI benchmark and the
UI tests (kept apart from app/ui/launch.py so that the benchmark and launch do not import each other)."""
from __future__ import annotations

import sys
from pathlib import Path

from pipeline.errors import PerceptError

_APP = None  # the QApplication must outlive every caller's local reference


def ensure_app():
    """The process's QApplication (made once), with a dark Fusion look and pyqtgraph's colours to match."""
    from PyQt6.QtGui import QColor, QPalette
    from PyQt6.QtWidgets import QApplication

    global _APP
    app = QApplication.instance()
    if app is None:
        app = _APP = QApplication(sys.argv[:1])
        app.setApplicationName("percept-ui")
        app.setOrganizationName("Percept")
    if not app.property("percept_styled"):  # also when someone else made the application (pytest-qt)
        app.setProperty("percept_styled", True)
        app.setStyle("Fusion")
        palette = QPalette()
        for role, rgb in ((QPalette.ColorRole.Window, (45, 45, 48)), (QPalette.ColorRole.WindowText, (230, 230, 230)),
                          (QPalette.ColorRole.Base, (30, 30, 32)), (QPalette.ColorRole.AlternateBase, (45, 45, 48)),
                          (QPalette.ColorRole.Text, (230, 230, 230)), (QPalette.ColorRole.Button, (55, 55, 60)),
                          (QPalette.ColorRole.ButtonText, (230, 230, 230)), (QPalette.ColorRole.Highlight, (42, 130, 218)),
                          (QPalette.ColorRole.HighlightedText, (255, 255, 255)),
                          (QPalette.ColorRole.ToolTipBase, (50, 50, 55)), (QPalette.ColorRole.ToolTipText, (230, 230, 230))):
            palette.setColor(role, QColor(*rgb))
        app.setPalette(palette)
    import pyqtgraph as pg

    pg.setConfigOptions(background=(30, 30, 32), foreground=(210, 210, 210), antialias=False)  # cheaper paints
    return app


def make_window(session, settings_path: str | None = None, out_dir: Path | None = None, owns_session: bool = True,
                speed: float = 1.0, probe_cameras: bool = True):
    from app.ui.main_window import MainWindow
    from app.ui.settings import UiSettings, open_settings

    ensure_app()
    return MainWindow(session, UiSettings(open_settings(settings_path)), out_dir, owns_session, speed, probe_cameras)


def show_view(window, view: str) -> None:
    """Bring a dock to the front (``depth``, ``3d``, ``people``, ``stages``) for a screenshot."""
    key = {"3d": "scene", "scene": "scene", "depth": "depth", "people": "people", "stages": "stages"}.get(view)
    if key is None:
        raise PerceptError(f"--view must be depth, 3d, people or stages, got {view!r}")
    dock = window.docks[key]
    dock.show()
    dock.raise_()
