"""Draw one poll of the fleet as a rich renderable: a pure function of the data and the time."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cloud_sync.top.poll import Fleet


def parse_ts(value: object) -> datetime | None:
    """Return an API timestamp as an aware datetime (None when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)  # the API's times are UTC


def ago(ts: datetime | None, now: datetime) -> str:
    """Return how long before ``now`` ``ts`` was: ``12 s ago``, ``3 min ago``, ``2 h ago``, ``never``."""
    if ts is None:
        return "never"
    seconds = max(0, int((now - ts).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _cents(value: object) -> str:
    return f"{value / 100:.2f}" if isinstance(value, int) else "?"


SALIENT: Mapping[str, Callable[[dict[str, Any]], str]] = {
    "access_granted": lambda p: (
        f"staff {p.get('staff_id') or '-'} ({p.get('staff_role') or '?'})"
        if p.get("via") == "staff"
        else f"member {p.get('member_id') or '-'} ({p.get('via', 'member_code')})"
    ),
    "access_denied": lambda p: f"{p.get('reason', '?')}" + (f" member {p['member_id']}" if p.get("member_id") else ""),
    "door_opened": lambda p: f"cause {p.get('cause', 'unknown')}",
    "door_closed": lambda p: f"door {p.get('door_id', '?')}",
    "exit_requested": lambda p: f"door {p.get('door_id', '?')}",
    "alarm_raised": lambda p: f"{p.get('alarm', '?')} ({p.get('severity', 'warning')})",
    "alarm_cleared": lambda p: f"{p.get('alarm', '?')}",
    "mode_changed": lambda p: f"{p.get('mode', '?')}{' lockdown' if p.get('lockdown') else ''} by {p.get('by', '?')}",
    "sale_completed": lambda p: f"total {_cents(p.get('total_cents'))} ({p.get('payment_mode', '?')})",
    "checkout_abandoned": lambda p: f"{p.get('reason', '?')} value {_cents(p.get('value_cents'))}",
    "sync_applied": lambda p: f"{p.get('channel', '?')} v{p.get('version', '?')}",
    "telemetry": lambda p: ", ".join(f"{k}={v}" for k, v in list(p.get("values", {}).items())[:3]),
}


def salient(event: Mapping[str, Any]) -> str:
    """Return the one field worth showing of an API event (its ``payload`` is the JSON as received)."""
    try:
        payload = json.loads(event.get("payload") or "{}")
    except (TypeError, ValueError):
        return ""
    if not isinstance(payload, dict):
        return ""
    pick = SALIENT.get(str(event.get("type")))
    try:
        return pick(payload) if pick else ""
    except (TypeError, AttributeError):
        return ""


def _stores_table(fleet: Fleet, now: datetime) -> Table:
    open_alarms: dict[str, list[str]] = {}
    for alarm in fleet.alarms:
        open_alarms.setdefault(str(alarm.get("store_id")), []).append(str(alarm.get("alarm")))
    table = Table(title=f"Stores ({len(fleet.stores)} of {fleet.stores_total})", expand=True, title_justify="left")
    for column in ("Store", "Status", "Last seen", "Door", "Lock", "Occupancy", "Mode", "Lockdown", "Alarms"):
        table.add_column(column, no_wrap=column != "Alarms")
    for store in fleet.stores:
        online = bool(store.get("online"))
        occupancy, cap = store.get("occupancy"), store.get("occupancy_cap")
        alarms = open_alarms.get(str(store.get("id")), []) or list(store.get("door_alarms") or [])
        table.add_row(
            str(store.get("id")),
            Text("online", style="green") if online else Text("offline", style="bold red"),
            ago(parse_ts(store.get("last_seen_at")), now),
            str(store.get("door") or "-"),
            Text(str(store.get("lock") or "-"), style="yellow" if store.get("lock") == "unlocked" else ""),
            "-" if occupancy is None else f"{occupancy}/{'-' if cap is None else cap}",
            str(store.get("mode") or "-"),
            Text("LOCKDOWN", style="bold red") if store.get("lockdown") else Text("no"),
            Text(", ".join(alarms) or "-", style="red" if alarms else ""),
        )
    return table


def _alarms_table(fleet: Fleet, now: datetime) -> Table:
    table = Table(title=f"Open alarms ({len(fleet.alarms)})", expand=True, title_justify="left")
    for column in ("Store", "Alarm", "Severity", "Since", "Detail"):
        table.add_column(column, no_wrap=column != "Detail")
    for alarm in fleet.alarms:
        severity = str(alarm.get("severity", ""))
        table.add_row(
            str(alarm.get("store_id")),
            str(alarm.get("alarm")),
            Text(severity, style="bold red" if severity == "critical" else "yellow"),
            ago(parse_ts(alarm.get("raised_at")), now),
            str(alarm.get("detail") or ""),
        )
    return table


def _events_table(fleet: Fleet) -> Table:
    table = Table(title="Latest events (newest last)", expand=True, title_justify="left")
    for column in ("Time (UTC)", "Store", "Type", "What"):
        table.add_column(column, no_wrap=column != "What")
    for event in reversed(fleet.events):  # the API gives newest first; newest at the bottom here
        ts = parse_ts(event.get("ts"))
        table.add_row(
            ts.astimezone(UTC).strftime("%H:%M:%S") if ts else "?",
            str(event.get("store_id")),
            str(event.get("type")),
            salient(event),
        )
    return table


def status_line(fleet: Fleet | None, now: datetime, error: str | None = None) -> Text:
    """Return the header: fleet totals and the time of the poll, or why the cloud cannot be read."""
    if error is not None:
        since = f"; showing data from {ago(fleet.fetched_at, now)}" if fleet else ""
        detail = error.removeprefix("cloud unreachable at ")
        return Text(f"cloud unreachable, retrying: {detail}{since}", style="bold red")
    if fleet is None:
        return Text("connecting to the cloud...", style="yellow")
    online = sum(1 for s in fleet.stores if s.get("online"))
    return Text(
        f"smartstore fleet: {online}/{len(fleet.stores)} stores online, {len(fleet.alarms)} open alarms"
        f" (updated {fleet.fetched_at.astimezone(UTC).strftime('%H:%M:%S')} UTC)",
        style="bold",
    )


def render(fleet: Fleet | None, now: datetime, error: str | None = None) -> RenderableType:
    """Return the whole frame for one poll (or the last good one, with ``error`` when the cloud is unreachable)."""
    parts: list[RenderableType] = [status_line(fleet, now, error)]
    if fleet is not None:
        parts += [_stores_table(fleet, now), _alarms_table(fleet, now), _events_table(fleet)]
    return Group(*parts)
