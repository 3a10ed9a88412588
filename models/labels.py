"""Read the GroceryStore class table and split files (numpy/stdlib only)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelError

# The photos sit in ``shared/`` beside the repository (``$SMARTSTORE_DATA`` overrides), wherever
# the command runs from.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "grocery-store"


def default_data_dir() -> Path:
    """Return ``$SMARTSTORE_DATA`` if set, else the grocery-store photos beside the repository."""
    env = os.environ.get("SMARTSTORE_DATA")
    return Path(env) if env else DEFAULT_DATA_DIR


@dataclass(frozen=True)
class ClassInfo:
    """One fine class of the dataset."""

    fine_id: int
    name: str
    coarse_id: int
    coarse_name: str
    iconic_path: str


@dataclass(frozen=True)
class Sample:
    """One labelled image of a split."""

    path: Path
    fine_id: int
    coarse_id: int


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """Resolve the dataset directory (default: ``default_data_dir()``).

    Raises:
        ModelError: If the directory has no ``classes.csv``.
    """
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    path = path.expanduser().resolve()
    if not (path / "classes.csv").is_file():
        raise ModelError(f"no classes.csv in data dir {path} (pass --data DIR)")
    return path


def read_classes(data_dir: Path) -> list[ClassInfo]:
    """Read ``classes.csv`` into a list indexed by fine id."""
    with open(data_dir / "classes.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    classes = [ClassInfo(int(r[1]), r[0].strip(), int(r[3]), r[2].strip(), r[4].strip()) for r in rows if r]
    classes.sort(key=lambda c: c.fine_id)
    if [c.fine_id for c in classes] != list(range(len(classes))):
        raise ModelError("classes.csv fine ids are not 0..N-1")
    return classes


def read_split(data_dir: Path, split: str) -> list[Sample]:
    """Read ``<split>.txt`` (``path, fine, coarse`` per line).

    Raises:
        ModelError: If the split file is missing.
    """
    split_file = data_dir / f"{split}.txt"
    if not split_file.is_file():
        raise ModelError(f"split file {split_file} not found")
    samples: list[Sample] = []
    for line in split_file.read_text(encoding="utf-8").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        samples.append(Sample(data_dir / parts[0], int(parts[1]), int(parts[2])))
    return samples


def iconic_samples(data_dir: Path, classes: list[ClassInfo]) -> list[Sample]:
    """Return the studio ("iconic") image of every class as an extra training sample."""
    out: list[Sample] = []
    for c in classes:
        path = data_dir / c.iconic_path.lstrip("/")
        if path.is_file():
            out.append(Sample(path, c.fine_id, c.coarse_id))
    return out
