"""Simulated 2×20 pole display: decodes the byte stream into a character grid tests can read."""

from __future__ import annotations

import threading
from typing import Literal

from devices.escpos.protocol import (
    EscposCodec,
    Garbage,
    MoveCursor,
    Op,
    Role,
    Setting,
    Simple,
    Text,
    WriteLine,
)

Mode = Literal["overwrite", "vertical", "horizontal"]


class EscposSimulator:
    """A pole display with a ``rows`` × ``columns`` grid, a cursor and the Epson scroll modes.

    In overwrite mode a character written in the last column moves the cursor to the start of
    the next line (from the bottom line back to the top); vertical scroll mode scrolls the
    lower line up instead; horizontal scroll mode shifts the current line left.
    """

    name = "escpos"

    def __init__(self, *, columns: int = 20, rows: int = 2, encoding: str = "cp437") -> None:
        """Create a blank display."""
        self.columns = columns
        self.rows = rows
        self.encoding = encoding
        self.codec = EscposCodec(Role.DEVICE)
        self.grid = [[" "] * columns for _ in range(rows)]
        self.x = 1
        self.y = 1
        self.mode: Mode = "overwrite"
        self.settings: dict[str, int] = {"cursor": 1, "brightness": 4, "blink": 0, "code_table": 0, "select_device": 2}
        self.garbage = 0
        self.commands = 0
        self.changed = threading.Condition()

    # ------------------------------------------------------------------ what tests read
    @property
    def lines(self) -> tuple[str, ...]:
        """Return the displayed lines."""
        with self.changed:
            return tuple("".join(row) for row in self.grid)

    def wait_for_lines(self, expected: tuple[str, ...], timeout: float = 2.0) -> bool:
        """Wait until the display shows ``expected`` (lines compared without trailing spaces)."""
        want = tuple(line.rstrip() for line in expected)
        with self.changed:
            return self.changed.wait_for(lambda: tuple("".join(r).rstrip() for r in self.grid) == want, timeout)

    # ------------------------------------------------------------------ model
    def _clear(self) -> None:
        self.grid = [[" "] * self.columns for _ in range(self.rows)]
        self.x, self.y = 1, 1

    def _advance(self) -> None:
        self.x += 1
        if self.x <= self.columns:
            return
        if self.mode == "horizontal":
            self.x = self.columns
            return
        self.x = 1
        if self.y < self.rows:
            self.y += 1
        elif self.mode == "vertical":
            self.grid = [*self.grid[1:], [" "] * self.columns]
        else:
            self.y = 1

    def _put(self, char: str) -> None:
        if self.mode == "horizontal" and self.x == self.columns and self.grid[self.y - 1][-1] != " ":
            row = self.grid[self.y - 1]
            self.grid[self.y - 1] = [*row[1:], char]
            return
        self.grid[self.y - 1][self.x - 1] = char
        self._advance()

    def _apply(self, event: object) -> None:
        if isinstance(event, Garbage):
            self.garbage += 1
            return
        self.commands += 1
        if isinstance(event, Text):
            for char in event.data.decode(self.encoding, errors="replace"):
                self._put(char)
        elif isinstance(event, MoveCursor):
            if 1 <= event.x <= self.columns and 1 <= event.y <= self.rows:
                self.x, self.y = event.x, event.y
        elif isinstance(event, WriteLine):
            if 1 <= event.line <= self.rows:
                text = event.data.decode(self.encoding, errors="replace")[: self.columns]
                self.grid[event.line - 1] = list(f"{text:<{self.columns}}")
        elif isinstance(event, Setting):
            self.settings[event.kind] = event.value
        elif isinstance(event, Simple):
            self._simple(event.op)

    def _simple(self, op: Op) -> None:
        if op in (Op.INIT, Op.CLEAR):
            self._clear()
            if op is Op.INIT:
                self.mode = "overwrite"
        elif op is Op.CLEAR_LINE:
            self.grid[self.y - 1] = [" "] * self.columns
            self.x = 1
        elif op is Op.HOME:
            self.x, self.y = 1, 1
        elif op is Op.CARRIAGE_RETURN:
            self.x = 1
        elif op is Op.LINE_FEED:
            if self.y < self.rows:
                self.y += 1
            elif self.mode == "vertical":
                self.grid = [*self.grid[1:], [" "] * self.columns]
            else:
                self.y = 1
        elif op is Op.LEFT:
            if self.x > 1:
                self.x -= 1
            else:
                self.x = self.columns
                self.y = self.y - 1 if self.y > 1 else self.rows
        elif op is Op.RIGHT:
            self._advance()
        else:
            self.mode = {Op.OVERWRITE_MODE: "overwrite", Op.VERTICAL_SCROLL_MODE: "vertical"}.get(op, "horizontal")  # type: ignore[assignment]

    # ------------------------------------------------------------------ simulator protocol
    def receive_data(self, data: bytes) -> bytes:
        """Apply the commands; a display never answers."""
        with self.changed:
            for event in self.codec.receive_data(data):
                self._apply(event)
            self.changed.notify_all()
        return b""

    def poll(self, now: float) -> bytes:
        """Send nothing."""
        return b""
