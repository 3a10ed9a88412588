"""Shared fixtures: a private Mosquitto broker per test, and the repository paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartstore.broker import MosquittoBroker

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GROCERY = SHARED / "data" / "grocery-store"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Start a real mosquitto on a free loopback port; stop and restart it with its methods."""
    b = MosquittoBroker(workdir=tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.close()
