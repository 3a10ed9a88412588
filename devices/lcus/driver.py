"""LCUS relay driver: keeps the board at the state last asked for, across unplugs."""

from __future__ import annotations

import logging
import queue
import time
from concurrent.futures import Future

from devices.driver import DriverThread, StatusCallback
from devices.errors import DeviceDisconnected
from devices.lcus.profiles import LCUS
from devices.lcus.protocol import LcusCodec, QueryStatus, RelayStatus, Role, SetRelay

log = logging.getLogger(__name__)

_STATUS_TIMEOUT_S = 0.3


class LcusDriver(DriverThread):
    """Drive one LCUS channel as a lock output (energised = unlocked).

    The board has no readback on LCUS-1, so the lock state is "commanded", not "sensed". On
    every (re)connect the driver writes the wanted state again, and it starts with the relay
    OFF. Multi-channel boards answer a status query (``query_status``), which is read twice
    because the first answer can be stale.
    """

    settings = LCUS

    def __init__(
        self,
        url: str,
        *,
        channel: int = 1,
        name: str = "lock",
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver; the wanted state starts OFF (locked)."""
        super().__init__(url, name=name, on_status=on_status, max_backoff=max_backoff)
        self.channel = channel
        self.codec = LcusCodec(Role.HOST)
        self._wanted = False
        self._pending: queue.SimpleQueue[bool | Future[dict[int, bool]]] = queue.SimpleQueue()
        self._off_at: float | None = None

    def set_energised(self, on: bool) -> None:
        """Switch the relay ON (unlocked) or OFF (locked).

        The frame is written at once from the caller's thread when the port is open (a door
        should not wait for the driver thread to wake up); otherwise the driver thread writes
        the wanted state as soon as the port is back.
        """
        self._wanted = on
        self._off_at = None
        if self.link.is_open:
            try:
                self.link.write(self.codec.send(SetRelay(self.channel, on)))
                return
            except DeviceDisconnected:
                pass  # the driver thread reconnects, then writes the wanted state
        self._pending.put(on)

    def pulse(self, seconds: float) -> None:
        """Energise the relay for ``seconds``, then switch it OFF (timed by the driver thread)."""
        self.set_energised(True)
        self._off_at = time.monotonic() + seconds

    @property
    def energised(self) -> bool:
        """Return the last state asked for."""
        return self._wanted

    def query_status(self) -> Future[dict[int, bool]]:
        """Ask a multi-channel board for its channel states (empty dict: no answer, e.g. LCUS-1)."""
        future: Future[dict[int, bool]] = Future()
        self._pending.put(future)
        return future

    def on_connected(self) -> None:
        """Write the wanted state (OFF at start-up) right after the port opens."""
        self._drain()
        self.link.write(self.codec.send(SetRelay(self.channel, self._wanted)))

    def _drain(self) -> None:
        while True:
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Future):
                item.set_result({})

    def service(self) -> None:
        """Write a queued switch at once; end a pulse on time; when idle, check the port."""
        if self._off_at is not None and time.monotonic() >= self._off_at:
            self._off_at = None
            self._wanted = False
            self.link.write(self.codec.send(SetRelay(self.channel, False)))
        try:
            item = self._pending.get(timeout=0.02 if self._off_at is not None else 0.1)
        except queue.Empty:
            self.codec.receive_data(self.link.read_nowait())
            return
        if isinstance(item, Future):
            self._query(item)
            return
        self.link.write(self.codec.send(SetRelay(self.channel, item)))

    def _read_status(self) -> dict[int, bool]:
        self.link.reset_input()
        self.link.write(self.codec.send(QueryStatus()))
        states: dict[int, bool] = {}
        deadline = time.monotonic() + _STATUS_TIMEOUT_S
        while time.monotonic() < deadline:
            data = self.link.read()
            if not data and states:
                break  # the board went quiet after its status lines
            for event in self.codec.receive_data(data):
                if isinstance(event, RelayStatus):
                    states[event.channel] = event.on
        return states

    def _query(self, future: Future[dict[int, bool]]) -> None:
        try:
            self._read_status()  # the first answer can be stale
            states = self._read_status()
        except BaseException:
            future.set_result({})
            raise
        future.set_result(states)
