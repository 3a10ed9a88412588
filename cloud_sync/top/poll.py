"""Fetch what ``cloud top`` shows from the cloud's REST API (stdlib HTTP: no extra dependency)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PAGE = 500  # the API's largest page


class TopError(RuntimeError):
    """The cloud could not be read; ``auth`` when it refused the token (retrying will not help)."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        """Keep the one-line message and whether the token was refused."""
        super().__init__(message)
        self.auth = auth


@dataclass(frozen=True)
class Fleet:
    """One poll of the cloud: stores, open alarms and the latest events (newest first, as the API gives them)."""

    fetched_at: datetime
    stores: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stores_total: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the poll as the JSON ``--json`` prints."""
        return {
            "fetched_at": self.fetched_at.isoformat(),
            "stores_total": self.stores_total,
            "stores": self.stores,
            "alarms": self.alarms,
            "events": self.events,
        }


class CloudReader:
    """Read the fleet from ``base_url`` with an API token."""

    def __init__(self, base_url: str, token: str, *, events: int = 20, timeout_s: float = 5.0) -> None:
        """Remember where and how to ask (nothing is sent yet)."""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.events = events
        self.timeout_s = timeout_s

    def _get(self, path: str, **query: object) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TopError(f"{self.base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000)")
        url = f"{self.base_url}/api/v1/{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(  # noqa: S310 - the operator gives the URL
            url, headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                raise TopError(f"the cloud refused the token (HTTP {err.code}): check --token", auth=True) from err
            raise TopError(f"cloud answered HTTP {err.code} for /api/v1/{path}") from err
        except urllib.error.URLError as err:
            raise TopError(f"cloud unreachable at {self.base_url}: {err.reason}") from err
        except (TimeoutError, ConnectionError) as err:
            raise TopError(f"cloud unreachable at {self.base_url}: {err}") from err
        except ValueError as err:  # not JSON, or a URL urllib cannot use
            raise TopError(f"{self.base_url} is not a smartstore cloud: {err}") from err
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise TopError(f"{self.base_url} is not a smartstore cloud (no page of items at /api/v1/{path})")
        return body

    def fetch(self, now: datetime | None = None) -> Fleet:
        """Return one poll of the fleet.

        Raises:
            TopError: unreachable, token refused, or not a smartstore cloud.
        """
        stores = self._get("stores", limit=PAGE)
        alarms = self._get("alarms", active="true", limit=PAGE)
        events = self._get("events", limit=self.events)
        return Fleet(
            fetched_at=now or datetime.now(UTC),
            stores=stores["items"],
            alarms=alarms["items"],
            events=events["items"],
            stores_total=int(stores.get("total", len(stores["items"]))),
        )
