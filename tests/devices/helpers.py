"""Helpers shared by the device tests: chunked feeding, event normalisation, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from hypothesis import strategies as st

MERGEABLE = ("Garbage", "Text", "Echo")


class Codec(Protocol):
    """Any sans-IO codec of the device layer."""

    def receive_data(self, data: bytes) -> Sequence[Any]:
        """Decode ``data``."""
        ...


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Split ``data`` at the given positions (any order, duplicates allowed)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    chunks, last = [], 0
    for point in points:
        chunks.append(data[last:point])
        last = point
    chunks.append(data[last:])
    return chunks


def feed(codec: Codec, chunks: Sequence[bytes]) -> list[Any]:
    """Feed ``chunks`` one by one and return every event."""
    events: list[Any] = []
    for chunk in chunks:
        events.extend(codec.receive_data(chunk))
    return events


def merge_runs(events: Sequence[Any]) -> list[Any]:
    """Merge adjacent Garbage/Text/Echo events (how they split depends on chunking only)."""
    out: list[Any] = []
    for event in events:
        name = type(event).__name__
        if out and name in MERGEABLE and type(out[-1]) is type(event):
            previous: Any = out[-1]
            merged = {"data": previous.data + event.data}
            if hasattr(previous, "reason"):
                merged["reason"] = "*"
            out[-1] = replace(previous, **merged)
            continue
        item: Any = event
        if name == "Garbage" and hasattr(item, "reason"):
            item = replace(item, reason="*")
        out.append(item)
    return out


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Draw an arbitrary split of ``data`` into chunks."""
    cuts = draw(st.lists(st.integers(0, max(len(data), 1)), max_size=12))
    return split(data, cuts)


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``predicate`` every 5 ms until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Recorder:
    """A thread-safe callback that records what it was called with."""

    def __init__(self) -> None:
        """Start empty."""
        self.items: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        """Record one call (a single argument, or the tuple of them)."""
        with self._lock:
            self.items.append(args[0] if len(args) == 1 else args)

    def of(self, kind: type) -> list[Any]:
        """Return the recorded items of type ``kind``."""
        with self._lock:
            return [i for i in self.items if isinstance(i, kind)]

    def statuses(self) -> list[str]:
        """Return the status names recorded by an ``on_status`` callback."""
        with self._lock:
            return [i[1] for i in self.items if isinstance(i, tuple) and len(i) == 3]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self.items.clear()
