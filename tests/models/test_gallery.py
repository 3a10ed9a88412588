"""Embedding gallery: enrol, remove, similarity and file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import ModelError
from models.inference.gallery import Gallery


def test_add_similarity_remove() -> None:
    g = Gallery(4)
    assert g.add("cola", np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)) == 2
    assert g.add("milk", np.array([0, 0, 3, 0], np.float32)) == 1
    sims = g.similarities(np.array([1, 1, 0, 0], np.float32))
    assert sims["cola"] == pytest.approx(1 / np.sqrt(2), abs=1e-6)
    assert sims["milk"] == pytest.approx(0.0, abs=1e-6)
    assert g.products == ["cola", "milk"]
    assert g.remove("cola") == 2
    assert g.remove("cola") == 0
    assert g.products == ["milk"] and len(g) == 1


def test_round_trip(tmp_path: Path) -> None:
    g = Gallery(3)
    g.add("a", np.array([[3, 4, 0]], np.float32))
    path = tmp_path / "sub" / "gallery.npz"
    g.save(path)
    h = Gallery.load(path, dim=3)
    assert h.ids == ["a"]
    np.testing.assert_allclose(h.embeddings, [[0.6, 0.8, 0.0]], atol=1e-6)
    with pytest.raises(ModelError):
        Gallery.load(path, dim=5)


def test_missing_file_gives_empty_gallery_only_with_dim(tmp_path: Path) -> None:
    assert len(Gallery.load(tmp_path / "none.npz", dim=8)) == 0
    with pytest.raises(ModelError):
        Gallery.load(tmp_path / "none.npz")


@pytest.mark.parametrize("bad", [np.zeros((2, 5), np.float32), np.array([np.nan, 0, 0], np.float32)])
def test_rejects_bad_embeddings(bad: np.ndarray) -> None:
    with pytest.raises(ModelError):
        Gallery(3).add("x", bad)


def test_rejects_empty_id() -> None:
    with pytest.raises(ModelError):
        Gallery(3).add("  ", np.ones(3, np.float32))
