"""POST one notification to the operator's webhook (stdlib ``urllib.request``, no extra dependency)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from cloud_sync.services.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendResult,
    retryable_status,
    sign,
)

USER_AGENT = "smartstore-cloud-notify/1"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a signed POST is delivered to the configured address or not at all."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        """Return None so urllib raises the 3xx as an error."""
        return None


class WebhookSender:
    """Sends JSON bodies to one URL, signed when a secret is set."""

    def __init__(
        self, url: str, *, secret: bytes | None, timeout_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        """Remember where and how to send; nothing is opened until :meth:`send`."""
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.clock = clock
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, delivery_id: str, payload: dict[str, Any]) -> SendResult:
        """POST ``payload``; return how it went (never raises for network or HTTP failures)."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, DELIVERY_HEADER: delivery_id}
        if self.secret is not None:
            ts = int(self.clock())
            headers[TIMESTAMP_HEADER] = str(ts)
            headers[SIGNATURE_HEADER] = sign(self.secret, ts, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) only, checked above)
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as err:
            status = int(err.code)
            err.close()
            return SendResult(False, f"HTTP {status} {err.reason}"[:300], retryable_status(status))
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            return SendResult(False, f"{type(err).__name__}: {reason}"[:300], True)
        if 200 <= status < 300:
            return SendResult(True)
        return SendResult(False, f"HTTP {status}", retryable_status(status))
