"""Shared test setup: Qt offscreen, the real-data folder, and small helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PERCEPT_DATA", REPO.parent / "shared" / "data"))


def data_path(*parts: str) -> Path:
    """A path under the real-data folder; skips the test (with the reason) when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: {path} (set PERCEPT_DATA to the shared data folder)")
    return path


@pytest.fixture
def shared_data():
    return data_path
