"""Fine-tune EfficientNet-Lite0 on GroceryStore train, select on val, checkpoint every epoch."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.labels import (
    ClassInfo,
    Sample,
    iconic_samples,
    read_classes,
    read_split,
    resolve_data_dir,
)
from models.training.data import ImageSet
from models.training.net import LiteClassifier


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (the defaults are the shipped recipe)."""

    data_dir: str | None = None
    out_dir: str = ".cache/models/run"
    seed: int = 0
    epochs: int = 12
    batch_size: int = 32
    image_size: int = 224
    eval_sizes: list[int] = field(default_factory=lambda: [224, 256])
    lr_trunk: float = 5e-4
    lr_head: float = 2e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    coarse_weight: float = 0.3
    crop_scale_min: float = 0.25
    jitter: float = 0.2
    dropout: float = 0.2
    drop_connect: float = 0.1
    frozen_blocks: int = 5
    use_iconic: bool = True
    limit_per_class: int | None = None
    max_steps: int | None = None
    exclude_classes: list[int] = field(default_factory=list)
    threads: int = 2
    pretrained: bool = True
    resume: bool = False


def _subset(samples: list[Sample], keep: dict[int, int], limit: int | None) -> list[Sample]:
    out: list[Sample] = []
    counts: dict[int, int] = {}
    for s in samples:
        if s.fine_id not in keep:
            continue
        if limit is not None and counts.get(s.fine_id, 0) >= limit:
            continue
        counts[s.fine_id] = counts.get(s.fine_id, 0) + 1
        out.append(Sample(s.path, keep[s.fine_id], s.coarse_id))
    return out


def head_class_ids(num_classes: int, exclude: list[int]) -> list[int]:
    """Return the original fine ids in head order (all classes minus the excluded ones)."""
    ex = set(exclude)
    return [i for i in range(num_classes) if i not in ex]


@torch.no_grad()
def evaluate_logits(
    model: LiteClassifier, images: ImageSet, size: int, batch: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Return fine logits and features of every image with the eval transform."""
    model.eval()
    logits, feats = [], []
    for start in range(0, len(images), batch):
        idx = list(range(start, min(start + batch, len(images))))
        out, _, f = model(images.eval_batch(idx, size).contiguous(memory_format=torch.channels_last))
        logits.append(out.numpy())
        feats.append(f.numpy())
    return np.concatenate(logits), np.concatenate(feats)


def val_metrics(
    logits: np.ndarray, fine: np.ndarray, coarse: np.ndarray, coarse_of_head: np.ndarray
) -> dict[str, float]:
    """Compute fine top-1/top-5 and coarse top-1 (argmax of coarse-summed probabilities)."""
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    top5 = np.argsort(-probs, 1)[:, :5]
    n_coarse = int(max(coarse_of_head.max(), coarse.max())) + 1
    cprobs = np.zeros((len(probs), n_coarse))
    for j, c in enumerate(coarse_of_head):
        cprobs[:, c] += probs[:, j]
    return {
        "fine_top1": float((top5[:, 0] == fine).mean()),
        "fine_top5": float((top5 == fine[:, None]).any(1).mean()),
        "coarse_top1": float((cprobs.argmax(1) == coarse).mean()),
    }


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train(cfg: TrainConfig, console: Any | None = None) -> dict[str, Any]:
    """Run training; return a summary with the best val metrics and checkpoint paths.

    Checkpoints: ``<out_dir>/last.pt`` after every epoch (resume with ``cfg.resume``) and
    ``<out_dir>/best.pt`` for the best val fine top-1 (over epochs and eval sizes).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    con = console or Console()
    torch.set_num_threads(cfg.threads)
    classes, head_ids, train_set, val_set = _load_data(cfg, con)
    coarse_of_head = np.array([classes[i].coarse_id for i in head_ids])
    num_coarse = max(c.coarse_id for c in classes) + 1
    model = _model(cfg, len(head_ids), num_coarse)
    opt, base_lrs = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    warmup = max(1, int(cfg.warmup_epochs * steps_per_epoch))
    warmup = min(warmup, max(1, total_steps // 4))

    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    start_epoch, step, best_acc, history, best = _resume(cfg, model, opt, last_path, con)
    meta = {
        "config": asdict(cfg),
        "head_class_ids": head_ids,
        "class_names": [classes[i].name for i in head_ids],
        "coarse_ids": coarse_of_head.tolist(),
        "num_coarse": num_coarse,
    }

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=con) as progress:
        overall = progress.add_task("total", total=total_steps, completed=step, info="")
        for epoch in range(start_epoch, cfg.epochs):
            if step >= total_steps:
                break
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 1000 + epoch)
            order = rng.permutation(len(train_set))
            n_batches = min(steps_per_epoch, total_steps - step)
            task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=n_batches, info="")
            step, run_loss, seen = _train_epoch(
                model,
                opt,
                base_lrs,
                train_set,
                cfg,
                rng,
                order,
                n_batches,
                (step, total_steps, warmup),
                progress,
                (task, overall),
            )
            progress.remove_task(task)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": step,
                "train_loss": run_loss / max(seen, 1),
            }
            best_acc, best = _evaluate_epoch(
                model, val_set, cfg, record, coarse_of_head, (best_acc, best), meta, best_path, epoch
            )
            history.append(record)
            vals = "  ".join(
                f"@{s}: fine {record[f'val@{s}']['fine_top1']:.3f} top5 {record[f'val@{s}']['fine_top5']:.3f} "
                f"coarse {record[f'val@{s}']['coarse_top1']:.3f}"
                for s in cfg.eval_sizes
            )
            progress.console.print(f"epoch {epoch + 1}: loss {record['train_loss']:.3f}  val {vals}")
            _save_last(last_path, model, opt, epoch, step, best_acc, history, best, meta)
    summary = {
        "best": best,
        "history": history,
        "best_checkpoint": str(best_path),
        "last_checkpoint": str(last_path),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _optimizer(model: Any, cfg: TrainConfig) -> tuple[Any, list[float]]:
    """AdamW with separate learning rates for the trunk and the two heads."""
    head_params = list(model.fc.parameters()) + list(model.coarse_fc.parameters())
    head_set = {id(p) for p in head_params}
    trunk_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_set]
    opt = torch.optim.AdamW(
        [
            {"params": trunk_params, "lr": cfg.lr_trunk},
            {"params": head_params, "lr": cfg.lr_head},
        ],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [cfg.lr_trunk, cfg.lr_head]
    return opt, base_lrs


def _train_epoch(
    model: Any,
    opt: Any,
    base_lrs: list[float],
    train_set: ImageSet,
    cfg: TrainConfig,
    rng: np.random.Generator,
    order: np.ndarray,
    n_batches: int,
    schedule: tuple[int, int, int],
    progress: Any,
    tasks: tuple[Any, Any],
) -> tuple[int, float, int]:
    """Run one epoch's batches; return the global step, the summed loss and the images seen."""
    step, total_steps, warmup = schedule
    task, overall = tasks
    model.train()
    run_loss, seen = 0.0, 0
    for b in range(n_batches):
        idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size].tolist()
        if not idx:
            break
        x, yf, yc = train_set.train_batch(idx, cfg.image_size, rng, (cfg.crop_scale_min, 1.0), cfg.jitter)
        x = x.contiguous(memory_format=torch.channels_last)
        factor = _lr_factor(step, total_steps, warmup)
        for g, lr in zip(opt.param_groups, base_lrs, strict=True):
            g["lr"] = lr * factor
        fine_logits, coarse_logits, _ = model(x)
        loss = F.cross_entropy(fine_logits, yf, label_smoothing=cfg.label_smoothing)
        if cfg.coarse_weight > 0:
            loss = loss + cfg.coarse_weight * F.cross_entropy(coarse_logits, yc, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        run_loss += float(loss.detach()) * len(idx)
        seen += len(idx)
        info = f"loss {run_loss / seen:.3f} lr {base_lrs[0] * factor:.2e}"
        progress.update(task, advance=1, info=info)
        progress.update(overall, advance=1, info=info)
    return step, run_loss, seen


def _evaluate_epoch(
    model: Any,
    val_set: ImageSet,
    cfg: TrainConfig,
    record: dict[str, Any],
    coarse_of_head: np.ndarray,
    best_so_far: tuple[float, dict[str, Any]],
    meta: dict[str, Any],
    best_path: Path,
    epoch: int,
) -> tuple[float, dict[str, Any]]:
    """Score every eval size on val into ``record``; save ``best_path`` on a new best fine top-1."""
    best_acc, best = best_so_far
    for size in cfg.eval_sizes:
        logits, _ = evaluate_logits(model, val_set, size)
        m = val_metrics(logits, val_set.fine, val_set.coarse, coarse_of_head)
        record[f"val@{size}"] = m
        if m["fine_top1"] > best_acc:
            best_acc = m["fine_top1"]
            best = {"epoch": epoch + 1, "eval_size": size, **m}
            torch.save(
                {
                    "model": model.state_dict(),
                    "meta": meta,
                    "eval_size": size,
                    "val": m,
                    "epoch": epoch + 1,
                },
                best_path,
            )
    return best_acc, best


def _load_data(cfg: TrainConfig, con: Any) -> tuple[list[ClassInfo], list[int], ImageSet, ImageSet]:
    """Read the classes and decode the train (with iconic images if asked) and val sets."""
    data_dir = resolve_data_dir(cfg.data_dir)
    classes: list[ClassInfo] = read_classes(data_dir)
    head_ids = head_class_ids(len(classes), cfg.exclude_classes)
    keep = {orig: new for new, orig in enumerate(head_ids)}
    train_samples = read_split(data_dir, "train")
    if cfg.use_iconic:
        train_samples += iconic_samples(data_dir, classes)
    train_samples = _subset(train_samples, keep, cfg.limit_per_class)
    val_samples = _subset(read_split(data_dir, "val"), keep, cfg.limit_per_class)
    con.print(f"loading {len(train_samples)} train / {len(val_samples)} val images from {data_dir}")
    t0 = time.time()
    train_set, val_set = ImageSet(train_samples), ImageSet(val_samples)
    con.print(f"decoded in {time.time() - t0:.1f}s; {len(head_ids)} classes")
    return classes, head_ids, train_set, val_set


def _model(cfg: TrainConfig, n_classes: int, num_coarse: int) -> Any:
    """A seeded EfficientNet-Lite0 classifier with fine and coarse heads, channels-last."""
    torch.manual_seed(cfg.seed)
    model = LiteClassifier(
        n_classes,
        num_coarse,
        image_size=cfg.image_size,
        pretrained=cfg.pretrained,
        dropout=cfg.dropout,
        drop_connect=cfg.drop_connect,
        frozen_blocks=cfg.frozen_blocks,
    )
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _resume(
    cfg: TrainConfig, model: Any, opt: Any, last_path: Path, con: Any
) -> tuple[int, int, float, list[dict[str, Any]], dict[str, Any]]:
    """Load ``last_path`` when resuming; return (start epoch, step, best accuracy, history, best)."""
    if not (cfg.resume and last_path.is_file()):
        return 0, 0, -1.0, [], {}
    ck = torch.load(last_path, map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    start_epoch = ck["epoch"] + 1
    con.print(f"resumed from {last_path} at epoch {start_epoch}")
    return start_epoch, ck["step"], ck["best_acc"], ck["history"], ck.get("best", {})


def _save_last(
    last_path: Path,
    model: Any,
    opt: Any,
    epoch: int,
    step: int,
    best_acc: float,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    meta: dict[str, Any],
) -> None:
    """Save the checkpoint a resumed run continues from."""
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "step": step,
            "best_acc": best_acc,
            "history": history,
            "best": best,
            "meta": meta,
        },
        last_path,
    )
