"""Camera code reader: frames from OpenCV, QR decoding with zxing-cpp, on its own thread.

The source is a ``cv2.VideoCapture`` argument: a camera index (``0``), a video file, or an
RTSP URL. Decoding runs on the reader's thread, never on the agent's decision loop. A live
camera that stops delivering frames is reported offline and reopened with backoff; a file
ends (or loops) at its end, which is how tests and the demo feed real frames of real codes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import zxingcpp

log = logging.getLogger(__name__)


def decode_qr(frame: np.ndarray) -> list[str]:
    """Return the text of every valid QR code in a BGR or grey frame."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return [
        r.text
        for r in zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)  # type: ignore[arg-type]
        if r.valid
    ]


def qr_image(text: str, scale: int = 4) -> np.ndarray:
    """Render ``text`` as a grey QR image (for the phone simulator, tests and the demo)."""
    return np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=scale))


def place_on_frame(
    code: np.ndarray, size: tuple[int, int] = (480, 640), offset: tuple[int, int] = (60, 160)
) -> np.ndarray:
    """Paste a QR image onto a grey BGR camera-sized frame."""
    frame = np.full((*size, 3), 180, np.uint8)
    y, x = offset
    h, w = code.shape[:2]
    frame[y : y + h, x : x + w] = code[..., None] if code.ndim == 2 else code
    return frame


def parse_source(source: str) -> int | str:
    """Return a camera index for ``"0"``-style sources, else the path or URL unchanged."""
    return int(source) if source.isdigit() else source


class CameraReader:
    """Read frames, decode QR codes, and deliver each new code once per ``debounce_s``."""

    def __init__(
        self,
        source: str,
        *,
        on_code: Callable[[str], None],
        on_status: Callable[[bool, str], None] | None = None,
        debounce_s: float = 2.0,
        loop_file: bool = False,
        max_fps: float = 0.0,
    ) -> None:
        """Prepare the reader; ``start`` opens the source on a thread."""
        self.source = parse_source(source)
        self.on_code = on_code
        self.on_status = on_status or (lambda online, detail: None)
        self.debounce_s = debounce_s
        self.loop_file = loop_file
        self.max_fps = max_fps
        self.frames = 0
        self.decode_ms: list[float] = []
        self._recent: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    @property
    def is_live(self) -> bool:
        """Return whether the source is a camera or a stream (not a file)."""
        return isinstance(self.source, int) or "://" in str(self.source)

    def start(self) -> None:
        """Start reading on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def process(self, frame: np.ndarray) -> list[str]:
        """Decode one frame and deliver codes not seen within the debounce time."""
        t0 = time.perf_counter()
        texts = decode_qr(frame)
        self.decode_ms.append((time.perf_counter() - t0) * 1000)
        self.frames += 1
        now = time.monotonic()
        delivered = []
        for text in texts:
            if now - self._recent.get(text, -1e9) >= self.debounce_s:
                self._recent[text] = now
                delivered.append(text)
                self.on_code(text)
        if len(self._recent) > 1000:
            self._recent = {t: s for t, s in self._recent.items() if now - s < self.debounce_s}
        return delivered

    def _run(self) -> None:
        delay = 0.5
        online = False
        while not self._stop.is_set():
            cap = cv2.VideoCapture(self.source)
            if not cap.isOpened():
                if online or self.frames == 0:
                    self.on_status(False, f"cannot open camera source {self.source!r}")
                online = False
                if not self.is_live:
                    break
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.on_status(True, str(self.source))
            online, delay = True, 0.5
            period = 1.0 / self.max_fps if self.max_fps else 0.0
            while not self._stop.is_set():
                t0 = time.monotonic()
                ok, frame = cap.read()
                if not ok:
                    break
                try:
                    self.process(frame)
                except Exception:  # a bad frame must not stop the reader
                    log.exception("decoding a frame failed")
                if period:
                    self._stop.wait(max(0.0, period - (time.monotonic() - t0)))
            cap.release()
            if not self.is_live and not self.loop_file:
                break
            if self.is_live and not self._stop.is_set():
                self.on_status(False, "camera stopped delivering frames")
                online = False
        self.finished.set()
