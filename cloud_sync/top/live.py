"""Poll the cloud and draw the fleet: once (scripts, tests) or live with ``rich.Live``."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.live import Live

from cloud_sync.top.poll import CloudReader, Fleet, TopError
from cloud_sync.top.view import render


def once(reader: CloudReader, console: Console, *, as_json: bool = False) -> int:
    """Print one frame (or its data as JSON) and return the exit code: 2 with one line when the cloud cannot be read."""
    try:
        fleet = reader.fetch()
    except TopError as err:
        print(f"cloud top: {err}", file=sys.stderr)
        return 2
    if as_json:
        console.print_json(json.dumps(fleet.to_json()))
    else:
        console.print(render(fleet, datetime.now(UTC)))
    return 0


def live(
    reader: CloudReader,
    console: Console,
    *,
    interval_s: float = 1.0,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Redraw every ``interval_s`` until ``stop`` or Ctrl-C; an unreachable cloud shows a retrying status line.

    A refused token ends it (exit 2, one line): retrying would not help.
    """
    stop = stop or threading.Event()
    fleet: Fleet | None = None
    error: str | None = None
    try:
        with Live(render(None, clock()), console=console, refresh_per_second=4, transient=False) as screen:
            while not stop.is_set():
                try:
                    fleet, error = reader.fetch(), None
                except TopError as err:
                    if err.auth:
                        screen.stop()
                        print(f"cloud top: {err}", file=sys.stderr)
                        return 2
                    error = str(err)
                screen.update(render(fleet, clock(), error))
                stop.wait(interval_s)
    except KeyboardInterrupt:
        pass
    return 0
