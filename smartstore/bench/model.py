"""Latency and memory benchmark of the runtime recogniser (prints JSON; no torch)."""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from smartstore.bench.stats import percentile


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _test_image(data_dir: str | Path | None) -> tuple[np.ndarray, str]:
    from models.evaluate import read_bgr
    from models.labels import read_split, resolve_data_dir

    try:
        root = resolve_data_dir(data_dir)
        return read_bgr(read_split(root, "val")[0].path), "val[0]"
    except Exception:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (348, 348, 3), dtype=np.uint8), "random 348x348"


def bench(
    model: str | Path | None = None,
    iterations: int = 200,
    threads: list[int] | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Measure ``classify`` (end to end) and model-only latency per crop, p50/p99 in ms."""
    from models.inference.preprocess import preprocess
    from models.inference.recognizer import ProductRecognizer

    image, source = _test_image(data_dir)
    rss_before = _rss_mb()
    report: dict[str, Any] = {
        "image": f"{source} {image.shape[1]}x{image.shape[0]}",
        "iterations": iterations,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
        "rss_mb_before_load": round(rss_before, 1),
        "results": [],
    }
    for n in threads or [1, 2]:
        rec = ProductRecognizer.load(model, threads=n)
        report["model_variant"] = rec.metadata.get("variant")
        report["input_size"] = rec.input_size
        x = preprocess(image, rec.input_size)
        for _ in range(10):
            rec.classify(image)
        e2e, net = [], []
        for _ in range(iterations):
            t0 = time.perf_counter()
            rec.classify(image, k=5)
            e2e.append(time.perf_counter() - t0)
        for _ in range(iterations):
            t0 = time.perf_counter()
            rec._session.run(None, {rec._input: x})
            net.append(time.perf_counter() - t0)
        e2e_ms, net_ms = np.array(e2e) * 1e3, np.array(net) * 1e3
        report["results"].append(
            {
                "threads": n,
                "classify_p50_ms": round(percentile(e2e_ms, 50), 3),
                "classify_p99_ms": round(percentile(e2e_ms, 99), 3),
                "model_p50_ms": round(percentile(net_ms, 50), 3),
                "model_p99_ms": round(percentile(net_ms, 99), 3),
                "rss_mb": round(_rss_mb(), 1),
            }
        )
    report["rss_mb_peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    return report
