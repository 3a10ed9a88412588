"""One owner per serial port: ports open exclusively, and ``devices probe`` skips a held port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devices.errors import PortBusy
from devices.modbus.driver import ModbusDriver
from devices.modbus.simulator import ModbusSimulator
from devices.probe import probe_port
from devices.pty import PtySimulatorHost
from devices.transport import SerialSettings, open_port


def test_a_port_has_one_owner(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(ModbusSimulator())
    first = open_port(host.path, SerialSettings())
    try:
        with pytest.raises(PortBusy, match="held by another process"):
            open_port(host.path, SerialSettings())
    finally:
        first.close()
    open_port(host.path, SerialSettings()).close()  # free again once its owner closed it


def test_probe_skips_a_port_a_running_driver_holds(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    host = serve(sim)
    run_driver(ModbusDriver(host.path, poll_interval=0.02, reply_timeout=0.1))
    result = probe_port(host.path, listen_s=0.1)
    assert result.skipped is not None
    assert result.protocol is None and result.error is None
    assert result.summary().endswith("skipped: held by a running agent (or another program); not probed")
    assert "skipped" in result.to_json()
