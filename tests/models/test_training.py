"""Tiny training run, resume, ONNX export and torch/ONNX parity (skipped without torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from models.training.train import TrainConfig, train  # noqa: E402

SIZE = 64


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        data_dir=str(data_dir),
        out_dir=str(out),
        epochs=1,
        batch_size=32,
        image_size=SIZE,
        eval_sizes=[SIZE],
        limit_per_class=1,
        threads=2,
        seed=3,
    )
    first = train(cfg)
    cfg.epochs, cfg.resume = 2, True
    second = train(cfg)
    return {"out": out, "first": first, "second": second}


def test_smoke_training_writes_checkpoints_and_metrics(
    smoke_run: dict[str, Any],
) -> None:
    out: Path = smoke_run["out"]
    assert (out / "best.pt").is_file() and (out / "last.pt").is_file()
    rec = smoke_run["first"]["history"][0]
    assert rec["epoch"] == 1 and np.isfinite(rec["train_loss"])
    assert 0.0 <= rec[f"val@{SIZE}"]["fine_top1"] <= 1.0


def test_resume_continues_instead_of_restarting(smoke_run: dict[str, Any]) -> None:
    hist = smoke_run["second"]["history"]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[1]["step"] > hist[0]["step"]
    assert hist[0] == smoke_run["first"]["history"][0]


def test_export_parity_and_runtime(smoke_run: dict[str, Any], data_dir: Path, tmp_path: Path) -> None:
    from models import ProductRecognizer
    from models.evaluate import read_bgr
    from models.inference.preprocess import preprocess
    from models.labels import read_classes, read_split
    from models.training.export import ExportWrapper, export, load_checkpoint

    report = export(
        smoke_run["out"] / "best.pt",
        data_dir,
        tmp_path / "model",
        work_dir=tmp_path / "work",
        eval_size=SIZE,
        quantize=False,
        center_per_class=1,
        gallery_per_class=1,
        log=lambda _m: None,
    )
    assert report["parity"]["max_abs_logit_diff"] < 1e-3 and report["parity"]["top1_agree"]
    rec = ProductRecognizer.load(tmp_path / "model")
    assert rec.labels == [c.name for c in read_classes(data_dir)]
    assert rec.input_size == SIZE

    # Independent parity: torch wrapper vs the runtime API on real images.
    model, _meta, _size = load_checkpoint(smoke_run["out"] / "best.pt")
    center = torch.zeros(1280)
    wrapper = ExportWrapper(model, center).eval()
    for s in read_split(data_dir, "val")[:3]:
        img = read_bgr(s.path)
        with torch.no_grad():
            t_logits, _ = wrapper(torch.from_numpy(preprocess(img, SIZE)))
        o_logits, _ = rec.run(img)
        np.testing.assert_allclose(o_logits, t_logits.numpy()[0], atol=1e-3, rtol=1e-3)
