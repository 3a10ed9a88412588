"""Shared fixtures: dataset location (relative to the repo) and the shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO.parent / "shared/data/grocery-store"
SHIPPED = REPO / "models" / "shipped"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Return the GroceryStore dir next to the repo, or skip."""
    if not (DATA_DIR / "classes.csv").is_file():
        pytest.skip(f"dataset not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def recognizer():  # type: ignore[no-untyped-def]
    """Load the shipped model once, or skip if it has not been exported."""
    if not (SHIPPED / "model.json").is_file():
        pytest.skip("no shipped model in models/shipped")
    from models import ProductRecognizer

    return ProductRecognizer.load()
