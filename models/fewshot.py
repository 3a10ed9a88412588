"""Few-shot protocol: a model trained without 20 classes, which are then enrolled by embedding.

The 20 novel classes are fixed (every fourth fine id, 1, 5, ..., 77), which spreads them over
fruit, vegetables and packages. Training and export of that model need torch; the enrolment
evaluation itself uses only the runtime API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from models.errors import ModelError

NOVEL_CLASS_IDS: tuple[int, ...] = tuple(range(1, 81, 4))


def train_fewshot_model(data_dir: str | Path | None, run_dir: Path, epochs: int = 4, threads: int = 2) -> Path:
    """Train (shorter recipe) and export the base model without the novel classes; return its dir."""
    from rich.console import Console

    from models.training.export import export
    from models.training.train import TrainConfig, train

    cfg = TrainConfig(
        data_dir=str(data_dir) if data_dir is not None else None,
        out_dir=str(run_dir),
        epochs=epochs,
        exclude_classes=list(NOVEL_CLASS_IDS),
        eval_sizes=[224],
        threads=threads,
        resume=True,
    )
    train(cfg, console=Console(stderr=True))
    model_dir = run_dir / "model"
    export(
        run_dir / "best.pt",
        data_dir,
        model_dir,
        work_dir=run_dir / "export",
        eval_size=224,
        quantize=False,
        threads=threads,
        log=lambda m: print(m, file=sys.stderr),
    )
    return model_dir


def fewshot_report(
    data_dir: str | Path | None,
    run_dir: str | Path,
    train_if_missing: bool = False,
    epochs: int = 4,
    threads: int = 2,
) -> dict[str, Any]:
    """Evaluate enrolment of the novel classes from k = 1, 5, 10 train images.

    Raises:
        ModelError: If the few-shot model is missing and training was not requested.
    """
    from models.evaluate import fewshot_evaluate
    from models.inference.recognizer import ProductRecognizer

    run = Path(run_dir)
    model_dir = run / "model"
    if not (model_dir / "model.json").is_file():
        if not train_if_missing:
            raise ModelError(f"no few-shot model in {model_dir}; rerun with --train-fewshot")
        train_fewshot_model(data_dir, run, epochs=epochs, threads=threads)
    rec = ProductRecognizer.load(model_dir, threads=threads)
    report = fewshot_evaluate(rec, data_dir, NOVEL_CLASS_IDS)
    report["model_dir"] = str(model_dir)
    report["model_variant"] = rec.metadata.get("variant")
    report["train_config"] = rec.metadata.get("train_config")
    return report
