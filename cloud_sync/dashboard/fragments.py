"""HTML fragments shared by the dashboard pages: tables, badges and times in a store's zone (all escaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"


def zone(name: str | None) -> tuple[str, ZoneInfo]:
    """Return the IANA zone ``name`` and its ZoneInfo, or UTC when it is empty or unknown."""
    try:
        return (name, ZoneInfo(name)) if name else (DEFAULT_ZONE, ZoneInfo(DEFAULT_ZONE))
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_ZONE, ZoneInfo(DEFAULT_ZONE)


def local_time(value: datetime | None, zone_name: str | None) -> str:
    """Render ``value`` in the zone as ``<time>2026-12-02 02:13:05 <span class="tz">Europe/Stockholm</span></time>``."""
    if value is None:
        return "-"
    name, info = zone(zone_name)
    instant = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    shown = instant.astimezone(info).strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{instant.isoformat()}">{shown} <span class="tz">{escape(name)}</span></time>'


def table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    """A table whose cells (already-escaped HTML) carry their column name for the stacked phone layout."""
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    labels = [escape(h) for h in headers] + [""] * max(0, max(len(r) for r in rows) - len(headers))
    body = "".join(
        "<tr>" + "".join(f'<td data-label="{labels[i]}">{c}</td>' for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def badge(text: str, kind: str) -> str:
    """A small coloured label."""
    return f'<span class="badge {escape(kind)}">{escape(text)}</span>'
