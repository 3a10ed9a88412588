"""Nextion driver: instruction batches with confirmed return codes, touch events as callbacks."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from devices.driver import DriverThread, StatusCallback
from devices.errors import DeviceDisconnected, DeviceError, DeviceTimeoutError
from devices.nextion.profiles import NEXTION_9600, NextionProfile
from devices.nextion.protocol import (
    SENDME,
    CurrentPage,
    DisplayState,
    Garbage,
    Instruction,
    NextionCodec,
    NextionEvent,
    NextionReply,
    NumberValue,
    ReturnCode,
    Role,
    Startup,
    StringValue,
    Touch,
    bkcmd,
    get,
    set_number,
    set_text,
    show_page,
)
from devices.screen import BasketView, format_money
from devices.transport import LinkStatus

log = logging.getLogger(__name__)

_ANSWERS = (ReturnCode, StringValue, NumberValue, CurrentPage)
_FLUSH = b"\xff\xff\xff"


class NextionDriver(DriverThread):
    """Drive a Nextion display; touches reach ``on_touch`` and, on the choices page, ``on_choice``.

    The driver sets ``bkcmd=3`` after every (re)connect so every instruction is answered, sends
    each batch in one write and waits for one answer per instruction. Touch events that arrive
    in between are routed to the callbacks, never mistaken for answers. The last screen is
    redrawn after a reconnect or when the display reports a restart.
    """

    def __init__(
        self,
        url: str,
        *,
        profile: NextionProfile = NEXTION_9600,
        name: str = "nextion",
        on_touch: Callable[[Touch], None] | None = None,
        on_choice: Callable[[int, str], None] | None = None,
        on_error: Callable[[Instruction, ReturnCode], None] | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
        max_misses: int = 3,
    ) -> None:
        """Prepare the driver for the display at ``url``."""
        super().__init__(url, name=name, settings=profile.serial, on_status=on_status, max_backoff=max_backoff)
        self.profile = profile
        self.layout = profile.layout
        self.codec = NextionCodec(Role.HOST, encoding=profile.encoding)
        self.on_touch = on_touch or (lambda touch: None)
        self.on_choice = on_choice or (lambda index, name: None)
        self.on_error = on_error or (lambda instruction, code: None)
        self.max_misses = max_misses
        self.garbage = 0
        self._jobs: queue.SimpleQueue[tuple[list[Instruction], Future[list[NextionReply]]]] = queue.SimpleQueue()
        self._screen: list[Instruction] = []
        self._choices: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._misses = 0
        self._redraw = False

    # ------------------------------------------------------------------ agent-facing API
    def send(self, instructions: Sequence[Instruction]) -> Future[list[NextionReply]]:
        """Send instructions in one write; the future gets one answer per instruction.

        While the display is offline the future fails at once; the ``show_*`` helpers still
        remember their screen, which is drawn as soon as the display is back.
        """
        future: Future[list[NextionReply]] = Future()
        if not self.online.is_set():
            future.set_exception(DeviceDisconnected(f"{self.name} is offline"))
            return future
        self._jobs.put((list(instructions), future))
        return future

    def _show(self, instructions: list[Instruction], choices: tuple[str, ...] = ()) -> Future[list[NextionReply]]:
        with self._lock:
            self._screen = instructions
            self._choices = choices
        return self.send(instructions)

    def show_message(self, line1: str, line2: str = "") -> Future[list[NextionReply]]:
        """Show a message page with two lines."""
        page = self.layout.message
        return self._show([show_page(page.name), set_text("t0", line1), set_text("t1", line2)])

    def show_choices(self, names: Sequence[str], title: str = "Which product is it?") -> Future[list[NextionReply]]:
        """Show up to three suggested products; a touch calls ``on_choice(index, name)``."""
        buttons = self.layout.choice_buttons
        if not 1 <= len(names) <= len(buttons):
            raise ValueError(f"show_choices takes 1 to {len(buttons)} names")
        page = self.layout.choices
        instructions = [show_page(page.name), set_text("t0", title)]
        for index, button in enumerate(buttons):
            instructions.append(set_text(button, names[index] if index < len(names) else ""))
        return self._show(instructions, tuple(names))

    def show_basket(self, view: BasketView, rows: int = 3) -> Future[list[NextionReply]]:
        """Show the last ``rows`` basket lines, the item count and the total."""
        page = self.layout.basket
        instructions = [show_page(page.name)]
        shown = view.lines[-rows:]
        for index in range(rows):
            line = shown[index] if index < len(shown) else None
            text = f"{line.quantity} x {line.name}  {format_money(line.price, view.currency)}" if line else ""
            instructions.append(set_text(f"t{index}", text))
        instructions.append(set_text(f"t{rows}", f"TOTAL {format_money(view.total, view.currency)}"))
        instructions.append(set_number("n0", view.item_count))
        return self._show(instructions)

    def get_text(self, component: str) -> Future[list[NextionReply]]:
        """Ask for ``component.txt``; the future's single answer is a ``StringValue``."""
        return self.send([get(component, "txt")])

    def current_page(self) -> Future[list[NextionReply]]:
        """Ask for the current page (``sendme``)."""
        return self.send([SENDME])

    # ------------------------------------------------------------------ driver thread
    def _status(self, status: LinkStatus, detail: str) -> None:
        if status == "disconnected":
            while True:
                try:
                    _, future = self._jobs.get_nowait()
                except queue.Empty:
                    break
                future.set_exception(DeviceDisconnected(f"{self.name}: {detail}"))
        super()._status(status, detail)

    def on_connected(self) -> None:
        """Flush the display's input, ask for every answer (``bkcmd=3``) and redraw."""
        self.codec.reset()
        self._misses = 0
        self.link.write(_FLUSH)
        self._transact([bkcmd(3)])
        with self._lock:
            screen = list(self._screen)
        if screen:
            self._transact(screen)

    def service(self) -> None:
        """Run a queued batch; otherwise deliver touch events as they arrive."""
        if self._redraw:
            self._redraw = False
            self.on_connected()
        try:
            instructions, future = self._jobs.get_nowait()
        except queue.Empty:
            data = self.link.read_nowait()
            if data:
                self._dispatch(self.codec.receive_data(data))
                return
            try:
                instructions, future = self._jobs.get(timeout=0.01)  # wakes at once for a new batch
            except queue.Empty:
                return
        try:
            replies = self._transact(instructions)
        except DeviceError as err:
            future.set_exception(err)
            raise
        if len(replies) < len(instructions):
            future.set_exception(DeviceTimeoutError(f"{self.name}: {len(replies)}/{len(instructions)} answers"))
        else:
            future.set_result(replies)

    def _transact(self, instructions: list[Instruction]) -> list[NextionReply]:
        self.link.write(b"".join(self.codec.send(i) for i in instructions))
        replies: list[NextionReply] = []
        deadline = time.monotonic() + self.profile.reply_timeout_s + 0.01 * len(instructions)
        while len(replies) < len(instructions) and time.monotonic() < deadline:
            for event in self.codec.receive_data(self.link.read()):
                if isinstance(event, _ANSWERS) and len(replies) < len(instructions):
                    if isinstance(event, ReturnCode) and not event.ok:
                        self._report_error(instructions[len(replies)], event)
                    replies.append(event)
                else:
                    self._dispatch([event])
        if len(replies) < len(instructions):
            self._misses += 1
            if self._misses >= self.max_misses:
                self._misses = 0
                raise DeviceTimeoutError(f"{self.name}: display does not answer")
        else:
            self._misses = 0
        return replies

    def _report_error(self, instruction: Instruction, code: ReturnCode) -> None:
        log.warning("%s: %r failed: %s", self.name, instruction.text, code.meaning)
        try:
            self.on_error(instruction, code)
        except Exception:
            log.exception("%s: error callback failed", self.name)

    def _dispatch(self, events: list[NextionEvent]) -> None:
        for event in events:
            try:
                if isinstance(event, Touch):
                    self.on_touch(event)
                    self._choice(event)
                elif isinstance(event, (Startup, DisplayState)) and getattr(event, "state", "ready") == "ready":
                    self._redraw = True  # the display restarted: it forgot bkcmd and the screen
                elif isinstance(event, Garbage):
                    self.garbage += 1
            except Exception:
                log.exception("%s: touch callback failed", self.name)

    def _choice(self, touch: Touch) -> None:
        page = self.layout.choices
        if touch.page != page.page_id or touch.pressed != self.layout.choice_on_press:
            return
        with self._lock:
            choices = self._choices
        for index, button in enumerate(self.layout.choice_buttons):
            if page.component_id(button) == touch.component and index < len(choices):
                self.on_choice(index, choices[index])
                return
