"""Evaluate a recogniser on a labelled split and calibrate it (numpy only, no torch).

Also holds the calibration helpers used by export: temperature fit, gallery-logit fit and
the auto-accept threshold search.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ModelError
from models.inference.gallery import Gallery
from models.inference.recognizer import ProductRecognizer
from models.labels import ClassInfo, Sample, read_classes, read_split, resolve_data_dir


def read_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as BGR uint8.

    Raises:
        ModelError: If the file cannot be decoded.
    """
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ModelError(f"cannot read image {path}")
    return img


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    z = z - z.max(axis=-1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Return the temperature minimising the NLL of ``softmax(logits / T)`` (grid search)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 161))
    rows = np.arange(len(targets))
    nll = [-(log_softmax(logits / t)[rows, targets]).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Return the ECE of top-1 confidences over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(float(correct[mask].mean()) - float(conf[mask].mean()))
    return float(ece)


def choose_threshold(conf: np.ndarray, correct: np.ndarray, max_error: float = 0.01) -> dict[str, float]:
    """Return the lowest threshold whose accepted set has error <= ``max_error``.

    Items with top-1 score >= threshold are auto-accepted; among those the error rate must not
    exceed ``max_error``; the largest such accepted set wins. Reports the coverage (accepted
    fraction) and the error among accepted items.
    """
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], correct[order].astype(float)
    errors = np.cumsum(1.0 - ok_sorted)
    counts = np.arange(1, len(conf) + 1)
    err_rate = errors / counts
    best = None
    for i in range(len(conf)):
        if i + 1 < len(conf) and c_sorted[i + 1] == c_sorted[i]:
            continue  # only cut between distinct scores
        if err_rate[i] <= max_error:
            best = i
    if best is None:
        return {"threshold": 1.0, "coverage": 0.0, "error": 0.0, "accepted": 0}
    return {
        "threshold": float(c_sorted[best]),
        "coverage": float((best + 1) / len(conf)),
        "error": float(err_rate[best]),
        "accepted": int(best + 1),
    }


def fit_gallery_map(z: np.ndarray, sims: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Fit ``kappa, beta`` of the gallery logit ``kappa * cos + beta`` on labelled images.

    Two simulated situations per image (label ``y``, calibrated classifier logits ``z``,
    max cosine ``sims[:, c]`` to the enrolled images of class ``c``): (a) ``y`` is known only
    through the gallery (its classifier logit removed), (b) the most similar *wrong* class
    is enrolled in the gallery next to the full classifier. The pair minimising the summed
    NLL of the true label over both situations is chosen on a grid.
    """
    n = len(targets)
    rows = np.arange(n)
    s_true = sims[rows, targets]
    masked = sims.copy()
    masked[rows, targets] = -np.inf
    s_wrong = masked.max(axis=1)
    z_wo = z.copy()
    z_wo[rows, targets] = -np.inf
    m_wo = z_wo.max(axis=1, keepdims=True)
    lse_wo = m_wo[:, 0] + np.log(np.exp(z_wo - m_wo).sum(axis=1))
    m_all = z.max(axis=1, keepdims=True)
    lse_all = m_all[:, 0] + np.log(np.exp(z - m_all).sum(axis=1))
    z_true = z[rows, targets]
    best = (np.inf, 10.0, 0.0)
    for kappa in np.linspace(1.0, 60.0, 119):
        for beta in np.linspace(-60.0, 20.0, 161):
            g_true = kappa * s_true + beta
            g_wrong = kappa * s_wrong + beta
            nll_a = np.logaddexp(lse_wo, g_true) - g_true
            nll_b = np.logaddexp(lse_all, g_wrong) - z_true
            loss = float(nll_a.mean() + nll_b.mean())
            if loss < best[0]:
                best = (loss, float(kappa), float(beta))
    return best[1], best[2]


def run_split(
    rec: ProductRecognizer, samples: Sequence[Sample], progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return raw logits and embeddings of every sample through the runtime API."""
    logits, embs = [], []
    if progress:
        from rich.console import Console
        from rich.progress import track

        iterator: Any = track(samples, description="running model", console=Console(stderr=True))
    else:
        iterator = samples
    for s in iterator:
        lg, em = rec.run(read_bgr(s.path))
        logits.append(lg)
        embs.append(em)
    return np.stack(logits), np.stack(embs)


def metrics_from_scores(
    labels_per_item: list[list[str]],
    probs_per_item: list[np.ndarray],
    true_names: list[str],
    classes: list[ClassInfo],
    threshold: float | None = None,
) -> dict[str, Any]:
    """Compute fine/coarse top-1, top-5, ECE, per-class accuracy and confusion pairs."""
    coarse_of = {c.name: c.coarse_name for c in classes}
    top1, top5, coarse_ok, conf = [], [], [], []
    confusions: Counter[tuple[str, str]] = Counter()
    per_class: dict[str, list[int]] = {}
    for labels, probs, true in zip(labels_per_item, probs_per_item, true_names, strict=True):
        order = np.argsort(-probs, kind="stable")
        pred = labels[order[0]]
        top1.append(pred == true)
        top5.append(true in {labels[i] for i in order[:5]})
        conf.append(float(probs[order[0]]))
        cprob: dict[str, float] = {}
        for lab, p in zip(labels, probs, strict=True):
            key = coarse_of.get(lab, f"enrolled:{lab}")
            cprob[key] = cprob.get(key, 0.0) + float(p)
        coarse_ok.append(max(cprob, key=lambda k: cprob[k]) == coarse_of.get(true, f"enrolled:{true}"))
        per_class.setdefault(true, []).append(int(pred == true))
        if pred != true:
            confusions[(true, pred)] += 1
    ok = np.array(top1, dtype=bool)
    conf_arr = np.array(conf)
    out: dict[str, Any] = {
        "n": len(true_names),
        "fine_top1": float(ok.mean()),
        "fine_top5": float(np.mean(top5)),
        "coarse_top1": float(np.mean(coarse_ok)),
        "ece": expected_calibration_error(conf_arr, ok),
        "per_class_accuracy": {k: {"accuracy": float(np.mean(v)), "n": len(v)} for k, v in sorted(per_class.items())},
        "confusion_pairs": [{"true": t, "pred": p, "count": c} for (t, p), c in confusions.most_common(15)],
        "threshold_for_1pct_error": choose_threshold(conf_arr, ok),
    }
    if threshold is not None:
        acc = conf_arr >= threshold
        out["auto_accept"] = {
            "threshold": threshold,
            "coverage": float(acc.mean()),
            "error": float(1.0 - ok[acc].mean()) if acc.any() else 0.0,
            "accepted": int(acc.sum()),
        }
    return out


def evaluate(rec: ProductRecognizer, data_dir: str | Path | None, split: str = "val") -> dict[str, Any]:
    """Evaluate ``rec`` (with its gallery) on ``split`` through the public API."""
    root = resolve_data_dir(data_dir)
    classes = read_classes(root)
    samples = read_split(root, split)
    logits, embs = run_split(rec, samples)
    labels_l, probs_l = [], []
    for lg, em in zip(logits, embs, strict=True):
        labels, probs = rec.merge(lg, em)
        labels_l.append(labels)
        probs_l.append(probs)
    out = metrics_from_scores(
        labels_l,
        probs_l,
        [classes[s.fine_id].name for s in samples],
        classes,
        rec.auto_accept_threshold,
    )
    out["split"] = split
    out["input_size"] = rec.input_size
    out["model_variant"] = rec.metadata.get("variant")
    return out


def fewshot_evaluate(
    rec: ProductRecognizer,
    data_dir: str | Path | None,
    novel_ids: Sequence[int],
    shots: Sequence[int] = (1, 5, 10),
    seeds: Sequence[int] = (0, 1, 2),
) -> dict[str, Any]:
    """Enrol the novel classes from k train images each and score val (numpy + API only).

    ``rec`` must be a model trained without ``novel_ids``. For each k and seed, k train images
    of each novel class are drawn (seeded), embedded and enrolled under the class name; val is
    then scored with the merged rule over base classes + enrolled products.
    """
    root = resolve_data_dir(data_dir)
    classes = read_classes(root)
    novel = set(novel_ids)
    novel_names = {classes[i].name for i in novel}
    if novel_names & set(rec.labels):
        raise ModelError("the few-shot model was trained on some of the novel classes")
    train = [s for s in read_split(root, "train") if s.fine_id in novel]
    val = read_split(root, "val")
    by_class: dict[int, list[Sample]] = {}
    for s in train:
        by_class.setdefault(s.fine_id, []).append(s)
    val_logits, val_embs = run_split(rec, val)
    cache: dict[str, np.ndarray] = {}
    true_names = [classes[s.fine_id].name for s in val]
    is_novel = np.array([s.fine_id in novel for s in val])
    results: dict[str, Any] = {
        "novel_classes": sorted(novel_names),
        "n_val_novel": int(is_novel.sum()),
        "n_val": len(val),
        "runs": [],
    }
    for k in shots:
        accs_novel, accs_all, accs_base, top5_novel = [], [], [], []
        for seed in seeds:
            rng = np.random.default_rng([seed, k])
            gal = Gallery(rec.embedding_dim)
            for cid in sorted(by_class):
                items = by_class[cid]
                pick = rng.choice(len(items), size=min(k, len(items)), replace=False)
                embs = []
                for j in pick:
                    key = str(items[j].path)
                    if key not in cache:
                        cache[key] = rec.embed(read_bgr(items[j].path))
                    embs.append(cache[key])
                gal.add(classes[cid].name, np.stack(embs))
            saved = rec.gallery
            rec.gallery = gal
            try:
                merged = [rec.merge(lg, em) for lg, em in zip(val_logits, val_embs, strict=True)]
            finally:
                rec.gallery = saved
            top1 = np.array([labels[int(np.argmax(p))] == t for (labels, p), t in zip(merged, true_names, strict=True)])
            t5 = np.array(
                [
                    t in {labels[i] for i in np.argsort(-p)[:5]}
                    for (labels, p), t in zip(merged, true_names, strict=True)
                ]
            )
            accs_novel.append(float(top1[is_novel].mean()))
            accs_base.append(float(top1[~is_novel].mean()))
            accs_all.append(float(top1.mean()))
            top5_novel.append(float(t5[is_novel].mean()))
        results["runs"].append(
            {
                "k": k,
                "seeds": list(seeds),
                "novel_top1": float(np.mean(accs_novel)),
                "novel_top1_std": float(np.std(accs_novel)),
                "novel_top5": float(np.mean(top5_novel)),
                "base_top1": float(np.mean(accs_base)),
                "all_top1": float(np.mean(accs_all)),
            }
        )
    base_only = np.array([rec.labels[int(np.argmax(lg))] == t for lg, t in zip(val_logits, true_names, strict=True)])
    results["base_classifier_top1_on_base_val"] = float(base_only[~is_novel].mean())
    return results
