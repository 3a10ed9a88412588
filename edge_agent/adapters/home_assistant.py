"""Publish (or clear) the store's Home Assistant discovery configs over the agent's broker link.

The configs (contracts/home_assistant.py) are retained and published after every connect, since
a broker without persistence forgets them on restart. Which topics this agent has ever published
is kept in ``data_dir/home-assistant.json``: when discovery is turned off (or the prefix changes)
the old topics get an empty retained message on every connect until the broker acknowledges it,
then leave the file, so Home Assistant removes the entities.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Protocol

from contracts.home_assistant import discovery_configs
from edge_agent.adapters.private import write_private
from edge_agent.config import HomeAssistantSettings

log = logging.getLogger(__name__)
FILE_NAME = "home-assistant.json"


class RetainedLink(Protocol):
    """The part of ``MqttLink`` discovery needs."""

    def retain(self, topic: str, payload: bytes, on_delivered: Callable[[str], None] | None = None) -> None:
        """Publish ``payload`` retained after every connect."""

    def forget_retained(self, topic: str) -> None:
        """Stop publishing ``topic`` on connect."""


def agent_version() -> str:
    """Return the installed smartstore version (``0+unknown`` from a bare checkout)."""
    try:
        return metadata.version("smartstore")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_topics(path: Path) -> set[str]:
    """Return the discovery topics recorded in ``path`` (none when missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as err:
        log.error("ignoring unreadable %s (%s)", path, err)
        return set()
    topics = data.get("topics") if isinstance(data, dict) else None
    return {t for t in topics if isinstance(t, str)} if isinstance(topics, list) else set()


class HomeAssistantDiscovery:
    """The store's discovery configs, and the stale ones still to be cleared."""

    def __init__(self, store_id: str, settings: HomeAssistantSettings, data_dir: Path) -> None:
        """Work out what to publish and what to clear (nothing is sent before ``attach``)."""
        self.path = data_dir / FILE_NAME
        self.configs: dict[str, bytes] = {}
        if settings.enabled:
            configs = discovery_configs(
                store_id,
                prefix=settings.discovery_prefix,
                sw_version=agent_version(),
                device_name=settings.device_name,
            )
            self.configs = {t: json.dumps(c, separators=(",", ":")).encode() for t, c in configs.items()}
        self._lock = threading.Lock()
        self._recorded = load_topics(self.path)
        self.stale = self._recorded - set(self.configs)
        self._link: RetainedLink | None = None

    def attach(self, link: RetainedLink) -> None:
        """Have ``link`` publish the configs and clear the stale topics after each connect (before it starts)."""
        self._link = link
        if set(self.configs) - self._recorded:
            self._recorded |= set(self.configs)
            self._save()
        for topic, payload in self.configs.items():
            link.retain(topic, payload)
        for topic in sorted(self.stale):
            link.retain(topic, b"", self._cleared)
        if self.stale:
            log.info("clearing %d Home Assistant discovery configs", len(self.stale))

    def _cleared(self, topic: str) -> None:
        """Forget a stale topic once the broker acknowledged its clearing (paho's thread)."""
        with self._lock:
            self._recorded.discard(topic)
            self.stale.discard(topic)
            self._save()
        if self._link is not None:
            self._link.forget_retained(topic)

    def _save(self) -> None:
        try:
            if self._recorded:
                write_private(self.path, json.dumps({"topics": sorted(self._recorded)}).encode())
            else:
                self.path.unlink(missing_ok=True)
        except OSError as err:
            log.error("cannot record Home Assistant discovery topics in %s: %s", self.path, err)
