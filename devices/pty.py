"""Serve a simulated device on a pseudo-terminal (or a TCP port), with unplug and replug.

The driver opens ``host.path`` (a stable symlink) with pyserial like any real port; the
simulator reads and writes the pty's master side. ``unplug`` closes the pty, which makes the
driver's reads and writes fail exactly as a USB unplug does; ``replug`` creates a new pty and points
the same symlink at it. A pty carries any byte unchanged but does not emulate parity or baud:
7E1 protocols arrive as 8-bit bytes, so simulators mask with ``& 0x7F`` where needed.

``TcpSimulatorHost`` serves the same simulator on ``socket://127.0.0.1:PORT`` instead (one
client at a time), for drivers on another machine or for pyserial's ``socket://`` handler.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import socket
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import Protocol, Self


class Simulator(Protocol):
    """What a device simulator offers its host: bytes in, reply bytes out."""

    def receive_data(self, data: bytes) -> bytes:
        """Consume bytes from the driver and return the device's reply bytes (maybe none)."""
        ...

    def poll(self, now: float) -> bytes:
        """Return bytes the device sends on its own (streams, scans), maybe none."""
        ...


class SimulatorHost:
    """The serving loop and traffic record shared by the pty and TCP hosts."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._received = bytearray()
        self._received_cond = threading.Condition()
        self._write_queue: list[bytes] = []
        self.bytes_sent = 0
        self.plugged = False

    @property
    def url(self) -> str:
        """Return the pyserial URL a driver opens."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Plug the device in and serve it on a thread."""
        self.replug()
        self._thread = threading.Thread(target=self._serve, name=f"sim-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and unplug."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.unplug()

    def unplug(self) -> None:
        """Make the device vanish; the driver's I/O on it now fails."""
        raise NotImplementedError

    def replug(self) -> None:
        """Bring the device back at the same path or port."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    # ------------------------------------------------------------------ traffic
    def send(self, data: bytes) -> None:
        """Queue bytes to send to the driver now (e.g. garbage injection)."""
        with self._lock:
            self._write_queue.append(data)

    @property
    def received(self) -> bytes:
        """Return every byte the driver has written so far."""
        with self._received_cond:
            return bytes(self._received)

    def clear_received(self) -> None:
        """Forget the bytes received so far."""
        with self._received_cond:
            self._received.clear()

    def wait_for(self, pattern: bytes, timeout: float = 2.0, *, start: int = 0) -> int:
        """Wait until ``pattern`` appears in the received bytes at or after ``start``.

        Returns:
            The index just past the match, or -1 on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._received_cond:
            while True:
                idx = self._received.find(pattern, start)
                if idx >= 0:
                    return idx + len(pattern)
                left = deadline - time.monotonic()
                if left <= 0:
                    return -1
                self._received_cond.wait(left)

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            view = view[n:]
            self.bytes_sent += n

    def _current_fd(self) -> int:
        """Return the fd to serve now, or -1 when there is none (unplugged, no client)."""
        raise NotImplementedError

    def _lost(self, fd: int) -> None:
        """React to a read that returned nothing or failed (the peer hung up)."""

    def _serve(self) -> None:
        while not self._stop.is_set():
            fd = self._current_fd()
            with self._lock:
                pending, self._write_queue = (self._write_queue, []) if fd >= 0 else ([], self._write_queue)
            if fd < 0:
                time.sleep(0.005)
                continue
            try:
                for chunk in pending:
                    self._write(fd, chunk)
                ready, _, _ = select.select([fd], [], [], 0.005)
                if ready:
                    data = os.read(fd, 4096)
                    if not data:
                        self._lost(fd)
                        continue
                    with self._received_cond:
                        self._received += data
                        self._received_cond.notify_all()
                    reply = self.simulator.receive_data(data)
                    if reply:
                        self._write(fd, reply)
                out = self.simulator.poll(time.monotonic())
                if out:
                    self._write(fd, out)
            except OSError:
                # The pty was closed under us (unplug) or the driver side hung up.
                self._lost(fd)
                time.sleep(0.005)


class PtySimulatorHost(SimulatorHost):
    """Run ``simulator`` on a pty reachable at a stable path."""

    def __init__(self, simulator: Simulator, link_path: str | Path | None = None) -> None:
        """Prepare the host; ``start`` creates the pty and the serving thread."""
        super().__init__(simulator)
        if link_path is None:
            self._tmpdir: str | None = tempfile.mkdtemp(prefix="smartstore-pty-")
            link_path = Path(self._tmpdir) / "tty"
        else:
            self._tmpdir = None
        self.path = str(link_path)
        self._master = -1
        self._slave = -1

    @property
    def url(self) -> str:
        """Return the stable path (a pyserial URL too)."""
        return self.path

    def stop(self) -> None:
        """Stop serving and remove the pty and its link."""
        super().stop()
        if self._tmpdir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._tmpdir)

    def unplug(self) -> None:
        """Close the pty as a USB unplug would; the driver's I/O on it now fails."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = -1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.plugged = False

    def replug(self) -> None:
        """Create a fresh pty (a new /dev/pts/N) behind the same stable path."""
        self.unplug()
        master, slave = pty.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        os.set_blocking(master, False)
        tmp = self.path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)
        with self._lock:
            self._master, self._slave = master, slave
            self.plugged = True

    def _current_fd(self) -> int:
        with self._lock:
            return self._master


class TcpSimulatorHost(SimulatorHost):
    """Run ``simulator`` behind a TCP port (``socket://HOST:PORT``), one client at a time."""

    def __init__(self, simulator: Simulator, port: int = 0, host: str = "127.0.0.1") -> None:
        """Prepare the host; ``port`` 0 picks a free port (see ``port`` after ``start``)."""
        super().__init__(simulator)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None

    @property
    def url(self) -> str:
        """Return the pyserial URL of the simulator."""
        return f"socket://{self.host}:{self.port}"

    @property
    def path(self) -> str:
        """Return the URL (the pty host's ``path`` counterpart)."""
        return self.url

    def unplug(self) -> None:
        """Drop the client and stop listening: connects are refused until ``replug``."""
        with self._lock:
            for sock in (self._client, self._listener):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)  # stop listening now, even mid-select
                    with contextlib.suppress(OSError):
                        sock.close()
            self._client = self._listener = None
            self.plugged = False

    def replug(self) -> None:
        """Listen again on the same port."""
        self.unplug()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            self.plugged = True

    def _current_fd(self) -> int:
        with self._lock:
            if self._client is not None:
                return self._client.fileno()
            listener = self._listener
        if listener is None:
            return -1
        try:
            ready, _, _ = select.select([listener], [], [], 0.005)
            if not ready:
                return -1
            client, _ = listener.accept()
        except OSError:
            return -1
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._listener is None:  # unplugged meanwhile
                client.close()
                return -1
            self._client = client
        return client.fileno()

    def _lost(self, fd: int) -> None:
        with self._lock:
            if self._client is not None and self._client.fileno() == fd:
                with contextlib.suppress(OSError):
                    self._client.close()
                self._client = None
