"""The desktop UI (PyQt6 + pyqtgraph) on top of ``app.session.Session``.

Nothing here is imported by the pipeline or the models; Qt is imported only when a window is wanted, so that
``import app.ui`` stays cheap and works on machines without display libraries (``percept run`` probes it).

Modules, one job each: ``launch`` (QApplication, ``percept ui``, screenshot mode), ``main_window`` (docks, menus,
keys, settings), ``controller`` (the only code that talks to the session), ``render`` (overlays and depth/3D data,
off the UI thread), ``recorder``, ``video_view``, ``depth_view``, ``scene_view`` (3D), ``stages_panel``,
``people_panel``, ``source_picker``, ``playback_bar``, ``settings``, ``glcheck``, ``bench``.
"""
from __future__ import annotations

from typing import Any


def run_ui(session: Any, source: Any = None, mode: str | None = None) -> int:
    """Open the window on ``source`` (a Source, a spec, or None for auto) with ``session``; returns the exit
    code. The entry point ``percept run`` (with a display, without ``--headless``) looks for."""
    from app.ui.launch import run_window

    return run_window(session, source, mode)


__all__ = ["run_ui"]
