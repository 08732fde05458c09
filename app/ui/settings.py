"""What the window remembers between runs (QSettings): dock layout, window geometry, the last source and a
recent list. ``PERCEPT_UI_SETTINGS=FILE.ini`` (used by the tests) keeps it in a file of your choosing."""
from __future__ import annotations

import json
import os

from PyQt6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


def open_settings(path: str | None = None) -> QSettings:
    path = path or os.environ.get("PERCEPT_UI_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Percept", "percept-ui")


class UiSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.qs = settings if settings is not None else open_settings()

    # lists are stored as JSON: QSettings' INI format turns a one-item list into a plain string
    def recent(self) -> list[str]:
        try:
            value = json.loads(str(self.qs.value("source/recent", "[]")))
        except ValueError:
            return []
        return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def add_recent(self, spec: str) -> list[str]:
        items = [spec] + [s for s in self.recent() if s != spec]
        self.qs.setValue("source/recent", json.dumps(items[:MAX_RECENT]))
        self.qs.setValue("source/last", spec)
        self.qs.sync()
        return items[:MAX_RECENT]

    @property
    def last_source(self) -> str | None:
        value = self.qs.value("source/last")
        return str(value) if value else None

    def value(self, key: str, default=None):
        return self.qs.value(key, default)

    def set_value(self, key: str, value) -> None:
        self.qs.setValue(key, value)

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue("window/geometry", geometry)
        self.qs.setValue("window/state", state)
        self.qs.sync()

    def window_geometry(self) -> QByteArray | None:
        value = self.qs.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.qs.value("window/state")
        return value if isinstance(value, QByteArray) else None
