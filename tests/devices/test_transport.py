"""Ports by URL (pty, loop://, spy://, socket://) and the reconnecting link."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devices.errors import DeviceDisconnected
from devices.pty import PtySimulatorHost, TcpSimulatorHost
from devices.scanner.simulator import ScannerSimulator
from devices.transport import SerialLink, SerialSettings, is_pty, open_port
from tests.devices.helpers import Recorder, wait_until

SEVEN_E_ONE = SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)


class Echo:
    """A simulator that sends back what it gets."""

    def receive_data(self, data: bytes) -> bytes:
        """Echo ``data``."""
        return data

    def poll(self, now: float) -> bytes:
        """Send nothing on its own."""
        return b""


def test_settings_describe() -> None:
    assert SerialSettings().describe() == "9600 8N1"
    assert SEVEN_E_ONE.describe() == "9600 7E1"
    assert SerialSettings(19200, 8, "E", 1.5).describe() == "19200 8E1.5"


def test_missing_port_is_a_disconnect() -> None:
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        open_port("/dev/does-not-exist-42", SerialSettings())


def test_loop_url() -> None:
    port = open_port("loop://", SerialSettings())
    port.write(b"ping")
    assert port.read(4) == b"ping"
    port.close()


def test_spy_url_writes_a_hex_trace(serve: Callable[[Any], PtySimulatorHost], tmp_path: Path) -> None:
    host = serve(Echo())
    trace = tmp_path / "trace.txt"
    port = open_port(f"spy://{host.path}?file={trace}", SerialSettings(), timeout=0.5)
    port.write(b"\x02W\r")
    assert port.read(3) == b"\x02W\r"
    port.close()
    assert "02 57 0D" in trace.read_text()


def test_socket_url_to_a_tcp_simulator() -> None:
    host = TcpSimulatorHost(Echo()).start()
    try:
        port = open_port(host.url, SerialSettings(), timeout=0.5)
        port.write(b"hello")
        assert port.read(5) == b"hello"
        port.close()
    finally:
        host.stop()


def test_seven_bit_settings_on_a_pty_fall_back_to_8n1(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(Echo())
    assert is_pty(host.path)
    for _ in range(3):  # some kernels refuse 7E1 on a pty after the first open
        port = open_port(host.path, SEVEN_E_ONE, timeout=0.5)
        port.write(b"W")
        assert port.read(1) == b"W"
        port.close()
    assert not is_pty("/dev/null")


def test_link_statuses_and_read_until(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(Echo())
    status = Recorder()
    link = SerialLink(host.path, SerialSettings(), on_status=status, max_backoff=0.1)
    assert link.connect()
    link.write(b"abc\r\ndef")
    assert link.read_until(b"\r\n", 100, 1.0) == b"abc\r\n"
    assert link.read_until(b"\r\n", 100, 0.2) == b"def"  # timeout: what came
    host.unplug()

    def read_until_lost() -> None:
        for _ in range(100):
            link.read()

    with pytest.raises(DeviceDisconnected):
        read_until_lost()
    host.replug()
    assert link.connect()
    link.stop()
    assert [item[0] for item in status.items] == ["connected", "disconnected", "reconnected"]


def test_connect_gives_up_when_stopped() -> None:
    link = SerialLink("/dev/does-not-exist-42", SerialSettings(), max_backoff=0.05)
    threading.Timer(0.2, link.stop).start()
    assert link.connect() is False


def test_scanner_over_tcp(run_driver: Callable[[Any], Any]) -> None:
    from devices.scanner.driver import ScannerDriver

    sim = ScannerSimulator()
    host = TcpSimulatorHost(sim).start()
    try:
        scans = Recorder()
        run_driver(ScannerDriver(host.url, on_scan=scans))
        sim.scan("over-tcp")
        assert wait_until(lambda: [s.text for s in scans.items] == ["over-tcp"])
    finally:
        host.stop()
