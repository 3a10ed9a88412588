"""Where one-time sign-in codes go: the sender port, a log sender for development, a webhook for gateways."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cloud_sync.config import CloudSettings
from cloud_sync.services.errors import Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodeMessage:
    """One code to deliver: to whom (``kind`` is ``email`` or ``phone``), the code and the text."""

    kind: str
    address: str
    code: str
    text: str


class CodeSender(Protocol):
    """The port: deliver a code or raise ``Unavailable``."""

    def send(self, message: CodeMessage) -> None:
        """Deliver ``message``."""


class LogSender:
    """Development and demo sender: logs the code, keeps the last ones, appends them to a file if set."""

    def __init__(self, path: Path | None = None, keep: int = 100) -> None:
        """Append to ``path`` (JSON lines) when given; keep the last ``keep`` messages in ``outbox``."""
        self.path = path
        self.outbox: deque[CodeMessage] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, message: CodeMessage) -> None:
        """Log and record ``message``."""
        log.info("shopper sign-in code for %s: %s (log sender: development only)", message.address, message.code)
        with self._lock:
            self.outbox.append(message)
            if self.path is not None:
                line = {"at": datetime.now(UTC).isoformat(), "to": message.address, "code": message.code}
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")

    def last_code(self, address: str) -> str | None:
        """Return the newest code sent to ``address`` (as normalised), if any."""
        with self._lock:
            for message in reversed(self.outbox):
                if message.address == address:
                    return message.code
        return None


class WebhookSender:
    """Production sender: POST the message as JSON to an e-mail/SMS gateway."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        """Post to ``url``."""
        self.url = url
        self.timeout_s = timeout_s

    def send(self, message: CodeMessage) -> None:
        """POST ``{"channel", "to", "code", "text"}``; a refusal or no answer raises ``Unavailable``."""
        body = json.dumps(
            {"channel": message.kind, "to": message.address, "code": message.code, "text": message.text}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is an operator setting checked for http(s)
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as err:
            status = err.code
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            log.warning("shopper code webhook %s unreachable: %s", self.url, err)
            raise Unavailable("the code could not be sent now; try again in a minute") from err
        if not 200 <= status < 300:
            log.warning("shopper code webhook %s answered %s", self.url, status)
            raise Unavailable("the code could not be sent now; try again in a minute")


def build_sender(settings: CloudSettings) -> CodeSender:
    """Return the sender the settings name (``CLOUD_SHOPPER_SENDER``)."""
    if settings.shopper_sender == "webhook":
        if not settings.shopper_webhook_url:
            raise ValueError("CLOUD_SHOPPER_SENDER=webhook needs CLOUD_SHOPPER_WEBHOOK_URL")
        return WebhookSender(settings.shopper_webhook_url)
    return LogSender(settings.shopper_code_file)
