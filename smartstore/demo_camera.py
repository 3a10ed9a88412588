"""The checkout camera of the demo: an MJPEG-over-HTTP stream (as IP cameras serve) of one photo at a time.

The agent runs as its own process and opens it like any network camera (``camera.source`` is the
stream's URL); the demo chooses what the camera sees by showing the dataset photo of the item on
the scale.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

FPS = 5.0


class PhotoCamera:
    """Serve ``shown`` (or a plain grey frame) as ``multipart/x-mixed-replace`` JPEG frames."""

    def __init__(self) -> None:
        """Start the HTTP server on a free loopback port."""
        self._lock = threading.Condition()
        self._jpeg = self._encode(None)
        self._version = 0
        self._sent: dict[int, int] = {}
        self._stopped = threading.Event()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                camera._stream(self.wfile)

            def log_message(self, *args: Any) -> None:
                """Keep the demo's output clean."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-camera", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Return the stream's URL."""
        return f"http://127.0.0.1:{self._server.server_port}/stream.mjpg"

    @staticmethod
    def _encode(image: np.ndarray | None) -> bytes:
        frame = image if image is not None else np.full((480, 640, 3), 90, np.uint8)
        ok, jpeg = cv2.imencode(".jpg", frame)
        if not ok:
            raise ValueError("cannot encode the camera frame")
        return bytes(jpeg.tobytes())

    def show(self, image: np.ndarray | None, timeout: float = 5.0) -> bool:
        """Show ``image`` and wait until a connected reader has been sent two frames of it."""
        jpeg = self._encode(image)
        with self._lock:
            self._jpeg, self._version = jpeg, self._version + 1
            version = self._version
            return self._lock.wait_for(lambda: self._sent.get(version, 0) >= 2, timeout)

    def _stream(self, out: Any) -> None:
        try:
            while not self._stopped.is_set():
                with self._lock:
                    jpeg, version = self._jpeg, self._version
                head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                out.write(head + jpeg + b"\r\n")
                out.flush()
                with self._lock:
                    self._sent[version] = self._sent.get(version, 0) + 1
                    self._lock.notify_all()
                time.sleep(1 / FPS)
        except OSError:  # the reader went away
            return

    def stop(self) -> None:
        """Stop serving (streams end after their current frame)."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
