"""Whether this process can show windows: the one rule behind `percept run` choosing the window or headless,
`percept ui` refusing without a display, and the UI benchmark and screenshots drawing offscreen."""
from __future__ import annotations

import os


def has_display() -> bool:
    """An X11 or Wayland display to open windows on."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def qt_platform_chosen() -> bool:
    """The user named Qt's platform plugin (e.g. offscreen, vnc): Qt starts without a display."""
    return bool(os.environ.get("QT_QPA_PLATFORM"))


def offscreen_unless_display() -> None:
    """Qt draws offscreen where there is no display and the user chose no platform."""
    if not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
