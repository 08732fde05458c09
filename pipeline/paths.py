"""Where Percept's shipped assets (graphs, model manifest, embedded models, sample media) live."""
from __future__ import annotations

import os
from pathlib import Path

ASSETS_DIR = Path(os.environ.get("PERCEPT_ASSETS", Path(__file__).resolve().parent.parent / "assets"))


def asset(*parts: str) -> Path:
    return ASSETS_DIR.joinpath(*parts)
