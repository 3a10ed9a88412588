"""The watcher thread of ``cloud serve``: store_offline alerts, then webhook notifications.

Each pass (every ``notify_interval_s``) raises and resolves store_offline alerts, records a
notification for every alarm raised and alert created at or above ``notify_min_severity``, and
POSTs the due ones, retrying with exponential backoff. The decisions live in
``services/store_offline.py`` and ``services/notifications.py``; this is only the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from cloud_sync.config import CloudSettings
from cloud_sync.db.base import utcnow
from cloud_sync.services import notification_queue, store_offline
from cloud_sync.services.notifications import SendResult, after_attempt
from cloud_sync.webhook import WebhookSender

log = logging.getLogger(__name__)
CLAIM_LIMIT = 50


class Sender(Protocol):
    """What the watcher sends through (``WebhookSender``)."""

    def send(self, delivery_id: str, payload: dict[str, Any], /) -> SendResult:
        """POST one notification."""


@dataclass
class PassResult:
    """What one pass changed (for tests and logs)."""

    offline: int = 0
    back: int = 0
    queued: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0


class Watcher:
    """Runs passes in a daemon thread until stopped; a failing pass is logged and the next one runs."""

    def __init__(
        self,
        settings: CloudSettings,
        session_factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        sender: Sender | None = None,
    ) -> None:
        """Prepare (not start) the watcher; the sender defaults to ``settings.notify_webhook_url``."""
        self.settings = settings
        self.session_factory = session_factory
        self.clock = clock
        if sender is None and settings.notify_webhook_url:
            secret = settings.notify_webhook_secret
            sender = WebhookSender(
                settings.notify_webhook_url,
                secret=secret.get_secret_value().encode() if secret else None,
                timeout_s=settings.notify_timeout_s,
            )
        self.sender: Sender | None = sender
        self.passes = 0
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------- work

    def run_once(self) -> PassResult:
        """Run one pass: store_offline, then record and send notifications."""
        s = self.settings
        now = self.clock()
        result = PassResult()
        with self.session_factory() as session, session.begin():
            changes = store_offline.check(session, now, timedelta(seconds=s.store_offline_after_s))
        for store, reason in changes.went_offline:
            log.warning("store %s offline: %s", store.id, reason)
        for store_id in changes.back:
            log.info("store %s: store_offline resolved (reports again, or retired)", store_id)
        result.offline, result.back = len(changes.went_offline), len(changes.back)
        if self.sender is None:
            return result
        with self.session_factory() as session, session.begin():
            found = notification_queue.candidates(
                session,
                now,
                min_severity=s.notify_min_severity,
                lookback=timedelta(seconds=s.notify_lookback_s),
                public_url=s.public_url,
            )
            queued = notification_queue.enqueue(session, found, now)
        for n in queued:
            log.info("notification %s queued (%s %s)", n.dedupe_key, n.severity, n.kind)
        result.queued = len(queued)
        self._deliver_due(result)
        return result

    def _deliver_due(self, result: PassResult) -> None:
        s = self.settings
        assert self.sender is not None
        now = self.clock()
        lease = timedelta(seconds=s.notify_timeout_s + 30)
        with self.session_factory() as session, session.begin():
            claims = notification_queue.claim_due(session, now, limit=CLAIM_LIMIT, lease=lease)
        for claim in claims:
            outcome = self.sender.send(claim.dedupe_key, claim.payload)
            state = after_attempt(
                outcome,
                claim.attempts,
                self.clock(),
                max_attempts=s.notify_max_attempts,
                base_s=s.notify_backoff_s,
                cap_s=s.notify_backoff_max_s,
            )
            with self.session_factory() as session, session.begin():
                if not notification_queue.record_attempt(session, claim, state):
                    log.warning("notification %s: lease lost, outcome not recorded", claim.dedupe_key)
                    continue
            if state.status == "delivered":
                result.delivered += 1
                log.info("notification %s delivered (attempt %d)", claim.dedupe_key, claim.attempts)
            elif state.status == "failed":
                result.failed += 1
                log.error(
                    "notification %s failed after %d attempt(s): %s", claim.dedupe_key, claim.attempts, state.last_error
                )
            else:
                result.retried += 1
                log.info(
                    "notification %s attempt %d failed (%s), next at %s",
                    claim.dedupe_key,
                    claim.attempts,
                    state.last_error,
                    state.next_attempt_at.isoformat(timespec="seconds"),
                )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as err:  # never die: one line per distinct error, then the next pass
                first = str(err).splitlines()[0][:300] if str(err) else ""
                text = f"{type(err).__name__}: {first}"
                if text != self._last_error:
                    log.error("watcher pass failed: %s", text)
                    log.debug("watcher pass failure", exc_info=True)
                self._last_error = text
            else:
                if self._last_error is not None:
                    log.info("watcher passes succeed again")
                self._last_error = None
            self.passes += 1
            self._stop.wait(self.settings.notify_interval_s)

    # ------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the watcher thread."""
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait for its current pass to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
