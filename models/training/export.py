"""Export a checkpoint to ONNX (fp32 + int8), check parity, calibrate on val, ship.

Output directory layout (``models/shipped`` by default)::

    product_recognizer.onnx   chosen variant (int8 if within 1 point of fp32 on val)
    classes.json              head order -> fine name, fine id, coarse name, coarse id
    model.json                input size, temperature, gallery map, threshold, val figures
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.errors import ModelError
from models.evaluate import (
    choose_threshold,
    expected_calibration_error,
    fit_gallery_map,
    fit_temperature,
    log_softmax,
    read_bgr,
)
from models.inference.preprocess import preprocess
from models.labels import Sample, read_classes, read_split, resolve_data_dir
from models.training.net import FEATURE_DIM, LiteClassifier

MODEL_FILE = "product_recognizer.onnx"
# The auto-accept budget is 1 % wrong; the threshold is chosen for half of it on val, so photos
# the model has not seen (a new capture session, another store's light) keep a margin.
AUTO_ACCEPT_VAL_ERROR = 0.005


class ExportWrapper(nn.Module):
    """Return ``(logits, embedding)``; the embedding is the pooled feature minus its train mean."""

    def __init__(self, model: LiteClassifier, center: torch.Tensor) -> None:
        """Wrap a trained model and the embedding centre."""
        super().__init__()
        self.model = model
        self.register_buffer("center", center.reshape(1, -1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute fine logits and the centred embedding."""
        f = self.model.features(x)
        center: torch.Tensor = self.center  # type: ignore[assignment]
        return self.model.fc(f), f - center


def load_checkpoint(path: str | Path) -> tuple[LiteClassifier, dict[str, Any], int]:
    """Rebuild the model of a ``best.pt``/``last.pt`` checkpoint; return model, meta, eval size."""
    ck = torch.load(str(path), map_location="cpu", weights_only=False)
    meta = ck["meta"]
    cfg = meta["config"]
    model = LiteClassifier(
        len(meta["head_class_ids"]),
        meta["num_coarse"],
        image_size=cfg["image_size"],
        pretrained=False,
        frozen_blocks=0,
    )
    model.load_state_dict(ck["model"])
    model.eval()
    return model, meta, int(ck.get("eval_size", cfg["image_size"]))


def _batches(paths: list[Path], size: int, batch: int = 32) -> list[np.ndarray]:
    out = []
    for i in range(0, len(paths), batch):
        out.append(np.concatenate([preprocess(read_bgr(p), size) for p in paths[i : i + batch]]))
    return out


def _per_class(samples: list[Sample], n: int, seed: int) -> list[Sample]:
    rng = np.random.default_rng(seed)
    by: dict[int, list[Sample]] = {}
    for s in samples:
        by.setdefault(s.fine_id, []).append(s)
    out: list[Sample] = []
    for cid in sorted(by):
        items = by[cid]
        out.extend(items[j] for j in sorted(rng.choice(len(items), size=min(n, len(items)), replace=False)))
    return out


def _ort_run(path: Path, batches: list[np.ndarray], threads: int) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    logits, embs = [], []
    for x in batches:
        lg, em = sess.run(["logits", "embedding"], {name: x})
        logits.append(lg)
        embs.append(em)
    return np.concatenate(logits), np.concatenate(embs)


def _l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _quantize(fp32: Path, out: Path, calib: list[np.ndarray]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": x[i : i + 1]} for x in calib for i in range(len(x))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    quantize_static(
        str(pre),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
    )
    pre.unlink(missing_ok=True)


def export(
    checkpoint: str | Path,
    data_dir: str | Path | None,
    out_dir: str | Path,
    work_dir: str | Path = ".cache/models/export",
    eval_size: int | None = None,
    quantize: bool = True,
    calib_per_class: int = 2,
    center_per_class: int = 8,
    gallery_per_class: int = 5,
    max_int8_drop: float = 0.01,
    threads: int = 2,
    log: Any = print,
) -> dict[str, Any]:
    """Export, check parity, quantise, calibrate on val and write the shipped model.

    Returns:
        A report with parity errors, fp32/int8 val figures and the chosen variant.

    Raises:
        ModelError: If the ONNX model disagrees with torch.
    """

    torch.set_num_threads(threads)
    root = resolve_data_dir(data_dir)
    classes = read_classes(root)
    model, meta, ck_size = load_checkpoint(checkpoint)
    size = int(eval_size or ck_size)
    head_ids: list[int] = meta["head_class_ids"]
    keep = {orig: new for new, orig in enumerate(head_ids)}
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    train = [s for s in read_split(root, "train") if s.fine_id in keep]
    val = [s for s in read_split(root, "val") if s.fine_id in keep]
    val_targets = np.array([keep[s.fine_id] for s in val])

    log(f"computing embedding centre on {center_per_class}/class train images at {size}px")
    center_set = _per_class(train, center_per_class, seed=1)
    with torch.no_grad():
        feats = [model.features(torch.from_numpy(x)) for x in _batches([s.path for s in center_set], size)]
    center = torch.cat(feats).mean(0)
    wrapper = ExportWrapper(model, center).eval()
    fp32_path = work / "fp32.onnx"
    parity = _export_fp32(wrapper, val, size, fp32_path, threads, log)
    variants = _variants(fp32_path, work, train, val, val_targets, size, quantize, calib_per_class, threads, log)
    chosen = "fp32"
    if "int8" in variants and variants["int8"]["val_fine_top1"] >= variants["fp32"]["val_fine_top1"] - max_int8_drop:
        chosen = "int8"
    log(f"shipping {chosen}")
    ch = variants[chosen]
    calibration = _calibrate(ch, train, val, val_targets, keep, len(head_ids), size, gallery_per_class, threads, log)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ch["path"], out / MODEL_FILE)
    class_rows = [
        {
            "name": classes[i].name,
            "fine_id": i,
            "coarse_name": classes[i].coarse_name,
            "coarse_id": classes[i].coarse_id,
        }
        for i in head_ids
    ]
    (out / "classes.json").write_text(json.dumps(class_rows, indent=1) + "\n", encoding="utf-8")
    metadata = {
        "model_file": MODEL_FILE,
        "architecture": "EfficientNet-Lite0 (ReLU6), ImageNet init, fine-tuned on GroceryStore train",
        "variant": chosen,
        "input_size": size,
        "normalisation": "RGB, (x - 127) / 128, short side resized to input_size then centre crop",
        "embedding_dim": FEATURE_DIM,
        "tta_flip": False,
        **calibration,
        "variants_val": {
            k: {
                "fine_top1": v["val_fine_top1"],
                "fine_top5": v["val_fine_top5"],
                "bytes": v["bytes"],
            }
            for k, v in variants.items()
        },
        "parity": parity,
        "train_config": meta["config"],
    }
    (out / "model.json").write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
    report = {k: v for k, v in metadata.items() if k != "train_config"}
    report["out_dir"] = str(out)
    return report


def _export_fp32(wrapper: Any, val: list[Any], size: int, fp32_path: Path, threads: int, log: Any) -> dict[str, Any]:
    """Write the fp32 ONNX graph and check it agrees with torch; return the parity figures."""
    import onnx

    dummy = torch.from_numpy(preprocess(read_bgr(val[0].path), size))
    torch.onnx.export(
        wrapper,
        (dummy,),
        str(fp32_path),
        opset_version=17,
        input_names=["input"],
        output_names=["logits", "embedding"],
        dynamic_axes={
            "input": {0: "batch"},
            "logits": {0: "batch"},
            "embedding": {0: "batch"},
        },
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(fp32_path)))

    log("parity check torch vs onnxruntime")
    parity_x = np.concatenate([preprocess(read_bgr(s.path), size) for s in val[:: max(1, len(val) // 8)][:8]])
    with torch.no_grad():
        t_logits, t_emb = (t.numpy() for t in wrapper(torch.from_numpy(parity_x)))
    o_logits, o_emb = _ort_run(fp32_path, [parity_x], threads)
    parity = {
        "max_abs_logit_diff": float(np.abs(t_logits - o_logits).max()),
        "max_abs_embedding_diff": float(np.abs(t_emb - o_emb).max()),
        "top1_agree": bool((t_logits.argmax(1) == o_logits.argmax(1)).all()),
    }
    log(f"parity: {parity}")
    if parity["max_abs_logit_diff"] > 1e-2 or not parity["top1_agree"]:
        raise ModelError(f"ONNX export disagrees with torch: {parity}")
    return parity


def _variants(
    fp32_path: Path,
    work: Path,
    train: list[Any],
    val: list[Any],
    val_targets: np.ndarray,
    size: int,
    quantize: bool,
    calib_per_class: int,
    threads: int,
    log: Any,
) -> dict[str, dict[str, Any]]:
    """Quantise (optionally) and score each variant on val."""
    val_batches = _batches([s.path for s in val], size)
    variants: dict[str, dict[str, Any]] = {}
    for name, path in [("fp32", fp32_path)] + ([("int8", work / "int8.onnx")] if quantize else []):
        if name == "int8":
            log(f"quantising (static QDQ int8, calibrated on {calib_per_class}/class train images)")
            calib = _batches([s.path for s in _per_class(train, calib_per_class, seed=2)], size)
            _quantize(fp32_path, path, calib)
        lg, em = _ort_run(path, val_batches, threads)
        top5 = np.argsort(-lg, 1)[:, :5]
        variants[name] = {
            "path": str(path),
            "bytes": path.stat().st_size,
            "logits": lg,
            "emb": em,
            "val_fine_top1": float((top5[:, 0] == val_targets).mean()),
            "val_fine_top5": float((top5 == val_targets[:, None]).any(1).mean()),
        }
        log(
            f"{name}: val fine top-1 {variants[name]['val_fine_top1']:.4f} "
            f"top-5 {variants[name]['val_fine_top5']:.4f} ({path.stat().st_size / 1e6:.1f} MB)"
        )
    return variants


def _calibrate(
    ch: dict[str, Any],
    train: list[Any],
    val: list[Any],
    val_targets: np.ndarray,
    keep: dict[int, int],
    n_classes: int,
    size: int,
    gallery_per_class: int,
    threads: int,
    log: Any,
) -> dict[str, Any]:
    """Fit temperature, the auto-accept threshold and the gallery logit map on val."""
    temperature = fit_temperature(ch["logits"], val_targets)
    probs = np.exp(log_softmax(ch["logits"] / temperature))
    conf, ok = probs.max(1), probs.argmax(1) == val_targets
    thr = choose_threshold(conf, ok, max_error=AUTO_ACCEPT_VAL_ERROR)
    log(f"temperature {temperature:.3f}; auto-accept {thr}")

    log("fitting gallery logit map on val (5 train images/class enrolled)")
    g_set = _per_class(train, gallery_per_class, seed=3)
    _g_lg, g_em = _ort_run(Path(ch["path"]), _batches([s.path for s in g_set], size), threads)
    g_em = _l2n(g_em)
    g_cls = np.array([keep[s.fine_id] for s in g_set])
    v_em = _l2n(ch["emb"])
    sims_all = v_em @ g_em.T
    sims = np.full((len(val), n_classes), -1.0)
    for c in range(n_classes):
        cols = g_cls == c
        if cols.any():
            sims[:, c] = sims_all[:, cols].max(1)
    kappa, beta = fit_gallery_map(ch["logits"] / temperature, sims, val_targets)
    log(f"gallery map kappa {kappa:.2f} beta {beta:.2f}")
    return {
        "temperature": temperature,
        "auto_accept_threshold": thr["threshold"],
        "auto_accept_val": thr,
        "gallery_scale": kappa,
        "gallery_bias": beta,
        "val_ece": expected_calibration_error(conf, ok),
    }
