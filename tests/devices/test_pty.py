"""The pty and TCP simulator hosts: stable path across replugs, traffic record, refused connects."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from devices.pty import PtySimulatorHost, TcpSimulatorHost
from devices.transport import SerialSettings, open_port
from tests.devices.helpers import wait_until


class Counter:
    """A simulator that answers every chunk with its length and sends ``tick`` when polled."""

    def __init__(self) -> None:
        """Start silent."""
        self.tick = b""

    def receive_data(self, data: bytes) -> bytes:
        """Answer the chunk length."""
        return str(len(data)).encode()

    def poll(self, now: float) -> bytes:
        """Send the queued tick once."""
        out, self.tick = self.tick, b""
        return out


def test_replug_points_the_same_path_at_a_new_pty(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(Counter())
    first = os.path.realpath(host.path)
    port = open_port(host.path, SerialSettings(), timeout=0.5)
    host.unplug()
    assert not os.path.exists(host.path)
    assert not host.plugged
    port.close()
    host.replug()
    assert os.path.realpath(host.path) != first or os.path.exists(host.path)
    port = open_port(host.path, SerialSettings(), timeout=0.5)
    port.write(b"abc")
    assert port.read(1) == b"3"
    port.close()


def test_traffic_record_and_injection(serve: Callable[[Any], PtySimulatorHost]) -> None:
    sim = Counter()
    host = serve(sim)
    port = open_port(host.path, SerialSettings(), timeout=0.5)
    port.write(b"hello")
    assert host.wait_for(b"hello") == 5
    assert host.wait_for(b"nothing", timeout=0.05) == -1
    host.send(b"!")
    sim.tick = b"T"
    got = port.read(1) + port.read(1) + port.read(1)
    assert sorted(got) == sorted(b"5!T")
    assert wait_until(lambda: host.bytes_sent >= 3)
    host.clear_received()
    assert host.received == b""
    port.close()


def test_tcp_host_refuses_connections_while_unplugged() -> None:
    host = TcpSimulatorHost(Counter()).start()
    try:
        with socket.create_connection(("127.0.0.1", host.port), timeout=1) as conn:
            conn.sendall(b"xy")
            assert conn.recv(10) == b"2"
        host.unplug()
        try:
            socket.create_connection(("127.0.0.1", host.port), timeout=0.5).close()
            refused = False
        except OSError:
            refused = True
        assert refused
        host.replug()
        with socket.create_connection(("127.0.0.1", host.port), timeout=1) as conn:
            conn.sendall(b"xyz")
            assert conn.recv(10) == b"3"
    finally:
        host.stop()
