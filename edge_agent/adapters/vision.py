"""Checkout camera evidence: the latest frame, retail barcodes (zxing-cpp) and the product model.

When the checkout station asks for evidence on an item, the provider takes the newest camera
frame and runs barcode decoding and the model's top-k *in parallel* on a small thread pool
(both release the GIL in native code), then hands one ``Evidence`` back to the agent's
decision thread. A missing camera or model is reported in the evidence, so the station falls
back to asking for a scan instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import cv2
import numpy as np
import zxingcpp

from edge_agent.adapters.camera import parse_source
from edge_agent.domain.checkout import Evidence, RequestEvidence

log = logging.getLogger(__name__)

RETAIL_FORMATS = zxingcpp.barcode_formats_from_str("EAN13,EAN8,UPCA,UPCE,Code128,DataBar")


def decode_barcodes(frame: np.ndarray) -> list[str]:
    """Return the text of every valid retail barcode in a BGR or grey frame."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return [r.text for r in zxingcpp.read_barcodes(grey, formats=RETAIL_FORMATS) if r.valid]


class Prediction(Protocol):
    """One of the model's answers (``models.Prediction``)."""

    @property
    def label(self) -> str:  # pragma: no cover - protocol
        """Return the product label."""
        ...

    @property
    def score(self) -> float:  # pragma: no cover - protocol
        """Return the probability."""
        ...


class Recognizer(Protocol):
    """The product model (``models.ProductRecognizer``)."""

    def classify(self, bgr_image: np.ndarray, k: int = 5) -> Sequence[Prediction]:  # pragma: no cover - protocol
        """Return the top-k predictions."""
        ...


class FrameSource(Protocol):
    """Anything that can give the newest camera frame."""

    def latest(self) -> np.ndarray | None:  # pragma: no cover - protocol
        """Return the newest frame, or None if the camera is down."""
        ...


class LatestFrameCamera:
    """Keep the newest frame of a ``cv2.VideoCapture`` source; reopen a live camera that drops out."""

    def __init__(
        self, source: str, *, max_age_s: float = 1.0, on_status: Callable[[bool, str], None] | None = None
    ) -> None:
        """Prepare the camera; ``start`` opens it on a thread."""
        self.source = parse_source(source)
        self.max_age_s = max_age_s
        self.on_status = on_status or (lambda ok, detail: None)
        self._frame: np.ndarray | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start grabbing frames."""
        self._thread = threading.Thread(target=self._run, name="checkout-camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop grabbing frames."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def latest(self) -> np.ndarray | None:
        """Return the newest frame if it is fresh, else None (camera down)."""
        with self._lock:
            if self._frame is None or time.monotonic() - self._at > self.max_age_s:
                return None
            return self._frame

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            cap = cv2.VideoCapture(self.source)
            if not cap.isOpened():
                self.on_status(False, f"cannot open camera {self.source!r}")
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.on_status(True, str(self.source))
            delay = 0.5
            while not self._stop.is_set():
                ok, frame = cap.read()
                if not ok:
                    break
                with self._lock:
                    self._frame, self._at = frame, time.monotonic()
            cap.release()
            if not self._stop.is_set():
                self.on_status(False, "camera stopped delivering frames")


class EvidenceProvider:
    """Answer ``RequestEvidence`` with barcodes and the model's top-k, computed in parallel."""

    def __init__(
        self,
        frames: Callable[[str], np.ndarray | None],
        recognizer: Recognizer | None,
        submit: Callable[[str, Evidence], None],
        *,
        k: int = 5,
    ) -> None:
        """Use ``frames(station_id)`` and ``recognizer``; ``submit(station_id, evidence)`` delivers results."""
        self.frames = frames
        self.recognizer = recognizer
        self.submit = submit
        self.k = k
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="evidence")
        self.inference_ms: list[float] = []

    def request(self, station_id: str, request: RequestEvidence) -> Future[None]:
        """Gather evidence for one item in the background."""
        return self._pool.submit(self._gather, station_id, request)

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _classify(self, frame: np.ndarray) -> tuple[tuple[str, float], ...]:
        assert self.recognizer is not None
        t0 = time.perf_counter()
        preds = self.recognizer.classify(frame, k=self.k)
        self.inference_ms.append((time.perf_counter() - t0) * 1000)
        return tuple((p.label, float(p.score)) for p in preds)

    def _gather(self, station_id: str, request: RequestEvidence) -> None:
        frame = self.frames(station_id)
        if frame is None:
            self.submit(station_id, Evidence(request.item_seq, camera_ok=False, model_ok=self.recognizer is not None))
            return
        model: Future[tuple[tuple[str, float], ...]] | None = None
        if self.recognizer is not None:
            model = self._pool.submit(self._classify, frame)
        try:
            barcodes = tuple(decode_barcodes(frame))
        except Exception:  # a decoder failure must not lose the item
            log.exception("barcode decoding failed")
            barcodes = ()
        predictions: tuple[tuple[str, float], ...] = ()
        model_ok = model is not None
        if model is not None:
            try:
                predictions = model.result(timeout=5)
            except Exception:
                log.exception("product model failed")
                model_ok = False
        self.submit(station_id, Evidence(request.item_seq, barcodes, predictions, camera_ok=True, model_ok=model_ok))
