"""Simulated Nextion display: a model of pages and component values, return codes and touches."""

from __future__ import annotations

import threading

from devices.nextion.profiles import NextionLayout, PageLayout
from devices.nextion.protocol import (
    CurrentPage,
    DisplayState,
    Garbage,
    Instruction,
    NextionCodec,
    NextionReply,
    NumberValue,
    ReturnCode,
    Role,
    Startup,
    StringValue,
    Touch,
    parse_instruction,
)

OK = 0x01
INVALID_INSTRUCTION = 0x00
INVALID_PAGE = 0x03
INVALID_VARIABLE = 0x1A


class NextionSimulator:
    """A Nextion running the HMI described by ``layout``; tests read ``value`` and call ``touch``."""

    name = "nextion"

    def __init__(self, layout: NextionLayout | None = None, *, encoding: str = "iso-8859-1") -> None:
        """Power up on page 0 with every component empty; ``bkcmd`` is 2 (failures only)."""
        self.layout = layout or NextionLayout()
        self.codec = NextionCodec(Role.DEVICE, encoding=encoding)
        self.values: dict[tuple[str, str, str], str | int] = {}
        self.page = self.layout.pages[0]
        self.bkcmd = 2
        self.instructions: list[str] = []
        self.garbage = 0
        self.ignore_instructions = False
        self.changed = threading.Condition()
        self._out = bytearray([*self.codec.send(Startup()), *self.codec.send(DisplayState("ready"))])

    # ------------------------------------------------------------------ what tests read and do
    def value(self, component: str, attribute: str = "txt", page: str | None = None) -> str | int | None:
        """Return a component value (``page`` defaults to the current page)."""
        with self.changed:
            return self.values.get((page or self.page.name, component, attribute))

    def wait_for(
        self, component: str, expected: str | int, attribute: str = "txt", page: str | None = None, timeout: float = 2.0
    ) -> bool:
        """Wait until a component shows ``expected``."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self.values.get((page or self.page.name, component, attribute)) == expected, timeout
            )

    def touch(self, component: str, *, release: bool = True) -> None:
        """Press (and release) a component of the current page, as a shopper's finger does."""
        with self.changed:
            cid = self.page.component_id(component)
            self._out += self.codec.send(Touch(self.page.page_id, cid, True))
            if release:
                self._out += self.codec.send(Touch(self.page.page_id, cid, False))

    def inject(self, data: bytes) -> None:
        """Queue raw bytes (garbage)."""
        with self.changed:
            self._out += data

    # ------------------------------------------------------------------ model
    def _find_page(self, target: str) -> PageLayout | None:
        for page in self.layout.pages:
            if target in (page.name, str(page.page_id)):
                return page
        return None

    def _resolve(self, obj: str) -> tuple[PageLayout, str] | None:
        page = self.page
        if "." in obj:
            page_name, obj = obj.split(".", 1)
            found = self._find_page(page_name)
            if found is None:
                return None
            page = found
        return (page, obj) if obj in dict(page.components) else None

    def _execute(self, text: str) -> NextionReply | None:
        """Run one instruction; return the frame to send (before ``bkcmd`` filtering)."""
        parsed = parse_instruction(text)
        kind = parsed[0]
        if kind in ("assign_text", "assign_number"):
            target = self._resolve(parsed[1])
            if target is None:
                return ReturnCode(INVALID_VARIABLE)
            value: str | int = parsed[3] if kind == "assign_text" else int(parsed[3])
            self.values[(target[0].name, target[1], parsed[2])] = value
            return ReturnCode(OK)
        if kind == "get":
            target = self._resolve(parsed[1])
            if target is None:
                return ReturnCode(INVALID_VARIABLE)
            current = self.values.get((target[0].name, target[1], parsed[2]), "" if parsed[2] == "txt" else 0)
            return StringValue(current) if isinstance(current, str) else NumberValue(current)
        if kind == "page":
            page = self._find_page(parsed[1])
            if page is None:
                return ReturnCode(INVALID_PAGE)
            self.page = page
            return ReturnCode(OK)
        if kind == "sendme":
            return CurrentPage(self.page.page_id)
        if kind == "sys":
            if parsed[1] == "bkcmd":
                self.bkcmd = int(parsed[2])
            return ReturnCode(OK)
        return ReturnCode(INVALID_INSTRUCTION)

    def _filtered(self, reply: NextionReply) -> bytes:
        if isinstance(reply, ReturnCode):
            if reply.ok and self.bkcmd not in (1, 3):
                return b""
            if not reply.ok and self.bkcmd not in (2, 3):
                return b""
        return self.codec.send(reply)

    # ------------------------------------------------------------------ simulator protocol
    def receive_data(self, data: bytes) -> bytes:
        """Run complete instructions and answer per ``bkcmd``."""
        out = bytearray()
        with self.changed:
            for event in self.codec.receive_data(data):
                if isinstance(event, Garbage):
                    self.garbage += 1
                    continue
                if not isinstance(event, Instruction) or self.ignore_instructions:
                    continue
                self.instructions.append(event.text)
                reply = self._execute(event.text)
                if reply is not None:
                    out += self._filtered(reply)
            self.changed.notify_all()
        return bytes(out)

    def poll(self, now: float) -> bytes:
        """Send the power-on frames and queued touches."""
        with self.changed:
            out, self._out = bytes(self._out), bytearray()
        return out


def demo(sim: NextionSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: the shopper picks a choice when asked."""
    if sim.page.name == "choices":
        sim.touch(("b0", "b1", "b2")[step % 3])
