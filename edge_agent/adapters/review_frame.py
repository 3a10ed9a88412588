"""Keep a checkout station's last camera frame when it is held for a staff review (best effort).

The frame goes to ``<data_dir>/reviews/<station>.jpg`` (mode 0600) while the hold lasts, so
staff on site, or an operator over a remote shell, can look at the basket before resolving the
review (``resolve_review`` or a manager's card/PIN); it is deleted when the hold ends. Without a
camera, or with the camera down, nothing is kept and the review is resolved as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_agent.adapters.private import private_dir, write_private

log = logging.getLogger(__name__)


class ReviewFrames:
    """Write the newest frame of a held station as a JPEG."""

    def __init__(self, frames: Callable[[str], np.ndarray | None], directory: Path) -> None:
        """Read frames with ``frames(station_id)``; write them under ``directory``."""
        self.frames = frames
        self.directory = directory

    def __call__(self, station_id: str, held: bool) -> None:
        """Keep the frame when a hold begins, delete it when the hold ends."""
        if held:
            self.keep(station_id)
        else:
            self.forget(station_id)

    def forget(self, station_id: str) -> None:
        """Delete the frame of a hold that ended (a missing file is fine)."""
        try:
            self.path(station_id).unlink(missing_ok=True)
        except OSError as err:
            log.error("station %s: review frame not deleted (%s)", station_id, err)

    def path(self, station_id: str) -> Path:
        """Return where the frame of ``station_id``'s last hold is kept."""
        return self.directory / f"{station_id}.jpg"

    def keep(self, station_id: str) -> Path | None:
        """Save the station's newest frame; return its path, or None when there is no frame or no disk."""
        frame = self.frames(station_id)
        if frame is None:
            log.warning("station %s held for review: no camera frame to keep", station_id)
            return None
        ok, jpeg = cv2.imencode(".jpg", frame)
        if not ok:
            log.warning("station %s held for review: the frame did not encode", station_id)
            return None
        try:
            private_dir(self.directory)
            write_private(self.path(station_id), jpeg.tobytes())
        except OSError as err:
            log.error("station %s held for review: frame not kept (%s)", station_id, err)
            return None
        log.info("station %s held for review: frame kept in %s", station_id, self.path(station_id))
        return self.path(station_id)
