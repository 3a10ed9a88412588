"""The thread that runs one driver: connect, serve, and reconnect after an unplug.

A driver subclasses ``DriverThread`` and implements ``service`` (one short iteration: write what
is queued, read what arrived, feed it to its sans-IO codec) and optionally ``on_connected``
(re-apply a safe state after every (re)connect). Status changes reach ``on_status`` as
``(device_name, status, detail)`` with status ``connected``, ``disconnected`` or ``reconnected``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from devices.errors import DeviceDisconnected, DeviceError
from devices.transport import LinkStatus, SerialLink, SerialSettings

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, LinkStatus, str], None]


class DriverThread:
    """Own a ``SerialLink`` and call ``service`` in a loop on a daemon thread."""

    settings: SerialSettings = SerialSettings()

    def __init__(
        self,
        url: str,
        *,
        name: str,
        settings: SerialSettings | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the port at ``url``; ``start`` runs it."""
        self.name = name
        self._on_status = on_status or (lambda name, status, detail: None)
        self.link = SerialLink(url, settings or self.settings, on_status=self._status, max_backoff=max_backoff)
        self._thread: threading.Thread | None = None
        self.online = threading.Event()
        self.serviced_at = time.monotonic()  # when ``service`` last returned (a watchdog reads it)

    def _status(self, status: LinkStatus, detail: str) -> None:
        if status == "disconnected":
            self.online.clear()
        self._on_status(self.name, status, detail)

    def start(self) -> None:
        """Start the driver thread."""
        self._thread = threading.Thread(target=self._run, name=f"driver-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the port."""
        self.link.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def stuck_for(self, limit_s: float, now: float | None = None) -> float | None:
        """Return how long the driver has been stuck inside one ``service`` call (beyond ``limit_s``), else None.

        A port that is closed and reconnecting is not stuck: its backoff is bounded.
        """
        if self._thread is None or not self._thread.is_alive():
            return None if self.link.stopped else float("inf")
        if not self.online.is_set():
            return None
        waited = (now if now is not None else time.monotonic()) - self.serviced_at
        return waited if waited > limit_s else None

    def wait_online(self, timeout: float) -> bool:
        """Wait until the port is open; return whether it is."""
        return self.online.wait(timeout)

    def _run(self) -> None:
        while not self.link.stopped:
            if not self.link.connect():
                return
            try:
                self.on_connected()
                self.online.set()
                while not self.link.stopped:
                    self.service()
                    self.serviced_at = time.monotonic()
            except DeviceDisconnected:
                continue
            except DeviceError as err:  # a driver bug or a device that misbehaves: reopen
                log.warning("%s: %s; reopening the port", self.name, err)
                self.link.close()
                self._status("disconnected", str(err))
            except Exception:  # never let a driver thread die silently
                log.exception("%s: driver crashed; reopening the port", self.name)
                self.link.close()
                self._status("disconnected", "driver error")
                self.link.pause(0.5)  # backoff before reopening
        self.link.close()

    def on_connected(self) -> None:
        """Run after every (re)connect, before ``service``; re-apply safe state here."""

    def service(self) -> None:
        """Do one short iteration of I/O; raise ``DeviceDisconnected`` when the port is lost."""
        raise NotImplementedError
