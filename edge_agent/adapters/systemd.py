"""systemd's notify protocol: readiness, status, and a watchdog fed only while the agent makes progress.

``sd_notify`` is one datagram to the socket named by ``NOTIFY_SOCKET`` (a path, or ``@name`` for
the abstract namespace); the unit's ``WatchdogSec`` arrives as ``WATCHDOG_USEC``. Without those
variables (not under systemd, or ``Type=simple``) everything here does nothing. The protocol is
ten lines, as in gunicorn and uvicorn; see docs/adr/0005-dependencies.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

# A health check returns None when its part is making progress, else what is wrong.
HealthCheck = Callable[[], str | None]


class Notifier:
    """Send ``sd_notify`` messages to the service manager (no-op when not supervised)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        """Read ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) from ``env``."""
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        """Return whether a service manager listens."""
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; return whether it was sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as err:
            log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"), err)
            return False
        return True


class Watchdog:
    """Feed systemd's watchdog every half ``WatchdogSec``, but only while every health check passes.

    A hung decision loop, lock driver or outbox therefore stops the pings, and systemd restarts the
    agent (which writes "locked" first). The first failing check is logged once per episode.
    """

    def __init__(self, notifier: Notifier, checks: Sequence[tuple[str, HealthCheck]]) -> None:
        """Prepare (not start) the pinger."""
        self.notifier = notifier
        self.checks = list(checks)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None

    def problem(self) -> str | None:
        """Return the first failing check as ``"name: reason"``, or None when all pass."""
        for name, check in self.checks:
            try:
                why = check()
            except Exception as err:  # a check that breaks counts as failing, never kills the pinger
                why = f"check failed: {err}"
            if why is not None:
                return f"{name}: {why}"
        return None

    def beat(self) -> bool:
        """Run the checks once and ping if they pass; return whether it pinged."""
        problem = self.problem()
        if problem is not None:
            if problem != self._failing:
                log.error("watchdog not fed (%s): systemd will restart the agent if this lasts", problem)
            self._failing = problem
            self.notifier.send(f"STATUS=stalled: {problem}")
            return False
        if self._failing is not None:
            log.warning("watchdog fed again: %s recovered", self._failing.split(":", 1)[0])
            self._failing = None
        return self.notifier.send("WATCHDOG=1")

    def start(self) -> None:
        """Start pinging, if the unit asked for a watchdog."""
        interval = self.notifier.watchdog_s
        if interval is None:
            return
        self._thread = threading.Thread(target=self._run, args=(interval / 2,), name="watchdog", daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.beat()

    def stop(self) -> None:
        """Stop pinging."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
