"""Shared fixtures: a private Mosquitto broker per test, and the repository paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from smartstore.testing.broker import MosquittoBroker

# CI replays the same examples every run, so a red build always means a change broke something;
# `HYPOTHESIS_PROFILE=explore make test` searches new random examples (run it before a release).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
