"""``devices selftest`` for modbus: inputs read, coil pulse and coil read-back, against its simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check inputs read, coil pulse and coil read-back."""
    from devices.modbus.driver import ModbusDriver

    inputs = Recorder()
    driver = ModbusDriver(url, on_inputs=inputs, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        sim.set_input(0, True)
        report.check(
            "read inputs", wait_until(lambda: inputs.find(lambda bits: bits[0]) is not None, 2), repr(inputs.items[-1:])
        )
        driver.pulse(0.3)
        report.check("pulse ON", wait_until(lambda: sim.coils[0], 2))
        report.check("coil read back", wait_until(lambda: driver.coil_sensed is True, 2))
        report.check("pulse OFF", wait_until(lambda: not sim.coils[0], 2))
    finally:
        driver.stop()
