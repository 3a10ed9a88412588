"""Counters the services keep for the demo summary and operators."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AgentStats:
    """Counters for the demo summary and operators."""

    granted: int = 0
    denied: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    bad_commands: int = 0
    bad_sync: int = 0
    downlink_refused: dict[str, int] = field(default_factory=dict)  # by contracts.signing.RefusalReason
    commands_refused: dict[str, int] = field(default_factory=dict)  # by reply status (or "duplicate")
