"""Contract of the public inference API on the shipped model."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from models import ModelError, Prediction, ProductRecognizer
from models.evaluate import read_bgr
from tests.models.conftest import REPO, SHIPPED


def _class_names(data_dir: Path) -> list[str]:
    with open(data_dir / "classes.csv", newline="") as fh:
        return [row[0] for row in list(csv.reader(fh))[1:]]


def test_import_is_light() -> None:
    code = "import sys, models; print(sorted(m for m in ('torch', 'onnxruntime', 'cv2') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_inference_package_never_imports_torch() -> None:
    for path in (REPO / "models" / "inference").glob("*.py"):
        text = path.read_text()
        assert "import torch" not in text and "from torch" not in text, path


def test_shipped_files_are_small_and_consistent() -> None:
    if not (SHIPPED / "model.json").is_file():
        pytest.skip("no shipped model")
    meta = json.loads((SHIPPED / "model.json").read_text())
    onnx_file = SHIPPED / meta["model_file"]
    assert onnx_file.stat().st_size <= 20 * 1024 * 1024
    assert 0.0 < meta["auto_accept_threshold"] <= 1.0
    assert meta["temperature"] > 0


def test_labels_are_exactly_the_csv_names(recognizer: ProductRecognizer, data_dir: Path) -> None:
    assert recognizer.labels == _class_names(data_dir)


def test_classify_contract(recognizer: ProductRecognizer) -> None:
    img = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    for k in (1, 5, 17):
        preds = recognizer.classify(img, k=k)
        assert len(preds) == k
        assert all(isinstance(p, Prediction) and p.label in recognizer.labels for p in preds)
        scores = [p.score for p in preds]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores) and sum(scores) <= 1.0 + 1e-6
    everything = recognizer.classify(img, k=1000)
    assert len(everything) == len(recognizer.labels)
    assert sum(p.score for p in everything) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_rejected(recognizer: ProductRecognizer, k: object) -> None:
    with pytest.raises(ModelError):
        recognizer.classify(np.zeros((32, 32, 3), np.uint8), k=k)  # type: ignore[arg-type]


def test_any_size_and_channel_layout(recognizer: ProductRecognizer, data_dir: Path) -> None:
    from models.labels import read_split

    s = read_split(data_dir, "val")[0]
    bgr = read_bgr(s.path)
    base = recognizer.classify(bgr, k=1)[0]
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    assert recognizer.classify(bgra, k=1)[0] == base
    big = cv2.resize(bgr, (1000, 700))
    assert len(recognizer.classify(big, k=3)) == 3
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert len(recognizer.classify(gray, k=3)) == 3
    assert len(recognizer.classify(np.zeros((3, 5, 3), np.uint8), k=2)) == 2
    with pytest.raises(ModelError):
        recognizer.classify(bgr.astype(np.float32))


def test_embedding_is_normalised(recognizer: ProductRecognizer) -> None:
    e = recognizer.embed(np.full((64, 64, 3), 120, np.uint8))
    assert e.ndim == 1 and e.dtype == np.float32 and e.shape[0] == recognizer.embedding_dim
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)


def test_recognises_val_images(recognizer: ProductRecognizer, data_dir: Path) -> None:
    from models.labels import read_classes, read_split

    classes = read_classes(data_dir)
    samples = read_split(data_dir, "val")[::30]
    hits = sum(recognizer.classify(read_bgr(s.path), k=5)[0].label == classes[s.fine_id].name for s in samples)
    assert hits >= 0.7 * len(samples)


def test_enrol_and_remove(recognizer: ProductRecognizer, data_dir: Path, tmp_path: Path) -> None:
    from models.labels import read_split

    imgs = [read_bgr(s.path) for s in read_split(data_dir, "train")[:3]]
    gallery = tmp_path / "gallery.npz"
    rec = ProductRecognizer.load(gallery=gallery)
    assert rec.enrol("sku-123", imgs) == 3
    rec.save_gallery()
    rec2 = ProductRecognizer.load(gallery=gallery)
    assert rec2.gallery.products == ["sku-123"]
    preds = rec2.classify(imgs[0], k=5)
    assert "sku-123" in [p.label for p in preds]
    total = float(np.sum([p.score for p in rec2.classify(imgs[0], k=100)]))
    assert total <= 1.0 + 1e-6
    assert rec2.remove("sku-123") == 3
    assert "sku-123" not in [p.label for p in rec2.classify(imgs[0], k=100)]


def test_fewshot_protocol_refuses_a_model_that_saw_the_novel_classes(
    recognizer: ProductRecognizer, data_dir: Path
) -> None:
    from models.evaluate import fewshot_evaluate
    from models.fewshot import NOVEL_CLASS_IDS

    assert len(NOVEL_CLASS_IDS) == 20 and len(set(NOVEL_CLASS_IDS)) == 20
    with pytest.raises(ModelError):
        fewshot_evaluate(recognizer, data_dir, NOVEL_CLASS_IDS)
