"""Embedding gallery: enrol new products without retraining (numpy only).

File format: an ``.npz`` with ``ids`` (unicode array, one per embedding), ``embeddings``
(``N x D`` float32, L2-normalised rows) and ``dim`` (scalar). Several rows may share an id.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from models.errors import ModelError


class Gallery:
    """A set of L2-normalised embeddings labelled with product ids."""

    def __init__(
        self,
        dim: int,
        ids: list[str] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Create a gallery of ``dim``-dimensional embeddings."""
        self.dim = int(dim)
        self.ids: list[str] = list(ids or [])
        emb = np.zeros((0, self.dim), np.float32) if embeddings is None else np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or emb.shape[1] != self.dim or emb.shape[0] != len(self.ids):
            raise ModelError(f"gallery embeddings of shape {emb.shape} do not match {len(self.ids)} ids x {self.dim}")
        self.embeddings = _l2n(emb)

    def __len__(self) -> int:
        """Return the number of stored embeddings."""
        return len(self.ids)

    @property
    def products(self) -> list[str]:
        """Return the enrolled product ids, sorted."""
        return sorted(set(self.ids))

    def add(self, product_id: str, embeddings: np.ndarray) -> int:
        """Enrol embeddings (``D`` or ``N x D``) for ``product_id``; return how many were added."""
        if not product_id or not product_id.strip():
            raise ModelError("product id must be a non-empty string")
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim == 1:
            emb = emb[None]
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ModelError(f"expected embeddings of dim {self.dim}, got shape {emb.shape}")
        if not np.isfinite(emb).all():
            raise ModelError("embeddings contain NaN or inf")
        self.embeddings = np.concatenate([self.embeddings, _l2n(emb)])
        self.ids.extend([product_id] * len(emb))
        return len(emb)

    def remove(self, product_id: str) -> int:
        """Remove every embedding of ``product_id``; return how many were removed."""
        keep = [i for i, pid in enumerate(self.ids) if pid != product_id]
        removed = len(self.ids) - len(keep)
        self.ids = [self.ids[i] for i in keep]
        self.embeddings = self.embeddings[keep] if keep else np.zeros((0, self.dim), np.float32)
        return removed

    def similarities(self, embedding: np.ndarray) -> dict[str, float]:
        """Return, per product, the max cosine similarity between ``embedding`` and its entries."""
        if not self.ids:
            return {}
        sims = self.embeddings @ _l2n(np.asarray(embedding, np.float32).reshape(1, -1))[0]
        out: dict[str, float] = {}
        for pid, s in zip(self.ids, sims.tolist(), strict=True):
            if s > out.get(pid, -2.0):
                out[pid] = s
        return out

    def save(self, path: str | Path) -> None:
        """Write the gallery atomically to an ``.npz`` file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez(
                tmp,
                ids=np.array(self.ids, dtype=np.str_),
                embeddings=self.embeddings,
                dim=np.int64(self.dim),
            )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: str | Path, dim: int | None = None) -> Gallery:
        """Load a gallery file; a missing file gives an empty gallery when ``dim`` is known.

        Raises:
            ModelError: If the file is unreadable or its dimension differs from ``dim``.
        """
        path = Path(path)
        if not path.exists():
            if dim is None:
                raise ModelError(f"gallery file {path} not found")
            return cls(dim)
        try:
            with np.load(path, allow_pickle=False) as data:
                g = cls(
                    int(data["dim"]),
                    [str(x) for x in data["ids"].tolist()],
                    data["embeddings"],
                )
        except (OSError, KeyError, ValueError) as err:
            raise ModelError(f"cannot read gallery {path}: {err}") from err
        if dim is not None and g.dim != dim:
            raise ModelError(f"gallery {path} has dim {g.dim}, model embeds in {dim}")
        return g


def _l2n(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, 1e-12)).astype(np.float32)
