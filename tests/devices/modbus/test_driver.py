"""Modbus IO driver with the simulated module on a pty: inputs, coil pulse, read-back, faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices.modbus.driver import ModbusDriver
from devices.modbus.protocol import ExceptionReply, FlashCoil, WriteCoil, crc16, encode
from devices.modbus.simulator import ModbusSimulator
from devices.pty import PtySimulatorHost
from tests.devices.helpers import Recorder, wait_until


def start(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any], sim: ModbusSimulator, **kwargs: Any
) -> tuple[PtySimulatorHost, ModbusDriver, dict[str, Recorder]]:
    """Serve ``sim`` and run a driver recording inputs, faults and statuses."""
    host = serve(sim)
    rec = {name: Recorder() for name in ("inputs", "fault", "status")}
    driver = ModbusDriver(
        host.path,
        poll_interval=0.02,
        reply_timeout=0.1,
        max_backoff=0.1,
        on_inputs=rec["inputs"],
        on_fault=rec["fault"],
        on_status=rec["status"],
        **kwargs,
    )
    run_driver(driver)
    return host, driver, rec


def test_door_contact_and_exit_button_inputs(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    _, driver, rec = start(serve, run_driver, sim)
    assert wait_until(lambda: rec["inputs"].items[-1:] == [(False, False)])
    sim.set_input(0, True)  # door opened
    assert wait_until(lambda: rec["inputs"].items[-1:] == [(True, False)])
    sim.set_input(1, True)  # exit button
    assert wait_until(lambda: driver.inputs == (True, True))


def test_lock_coil_starts_off_pulses_and_is_read_back(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    host, driver, rec = start(serve, run_driver, sim)
    assert host.wait_for(bytes.fromhex("01 05 00 00 00 00 CD CA")) > 0  # OFF first
    driver.pulse(0.2)
    assert wait_until(lambda: sim.coils[0])
    assert wait_until(lambda: driver.coil_sensed is True)
    assert wait_until(lambda: not sim.coils[0], 2)
    assert rec["fault"].items == []


def test_stuck_relay_is_reported(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = ModbusSimulator(stuck=True)
    _, driver, rec = start(serve, run_driver, sim)
    driver.set_energised(True)
    assert wait_until(lambda: any("reads OFF after writing ON" in m for m in rec["fault"].items))


def test_exception_replies_are_counted_not_fatal(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    sim.exception_code = 0x04
    _, driver, rec = start(serve, run_driver, sim)
    assert wait_until(lambda: driver.exceptions >= 3)
    assert "disconnected" not in rec["status"].statuses()


def test_silent_module_is_reported_disconnected_and_recovers(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    _, _, rec = start(serve, run_driver, sim)
    sim.silent = True
    assert wait_until(lambda: "disconnected" in rec["status"].statuses())
    sim.silent = False
    sim.set_input(0, True)
    assert wait_until(lambda: (True, False) in rec["inputs"].items)


def test_unplug_then_replug(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = ModbusSimulator()
    host, driver, rec = start(serve, run_driver, sim)
    driver.set_energised(True)
    assert wait_until(lambda: sim.coils[0])
    host.unplug()
    assert wait_until(lambda: "disconnected" in rec["status"].statuses())
    sim.coils[0] = False  # the module lost power
    host.replug()
    assert wait_until(lambda: "reconnected" in rec["status"].statuses())
    assert wait_until(lambda: sim.coils[0])  # the wanted state is written again


def test_timed_pulse_is_timed_by_the_board_and_ends_without_the_driver(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = ModbusSimulator()
    host, driver, rec = start(serve, run_driver, sim, timed_pulse=True)
    assert driver.times_pulses
    assert host.wait_for(bytes.fromhex("01 05 00 00 00 00 CD CA")) > 0  # OFF first
    driver.pulse(0.3)
    flash = bytes.fromhex("01 05 02 00 00 03") + crc16(bytes.fromhex("01 05 02 00 00 03")).to_bytes(2, "little")
    assert host.wait_for(flash) > 0  # "flash on" coil 0 for 3 x 100 ms
    assert wait_until(lambda: driver.coil_sensed is True)
    driver.stop()  # the host is gone: nobody writes OFF any more
    with sim.changed:
        assert sim.changed.wait_for(lambda: not sim.coils[0], 5)  # the board ended the pulse
    assert sim.flashes == [FlashCoil(1, 0, 3)]
    assert rec["fault"].items == []


def test_simulated_board_times_a_flash_and_a_plain_write_cancels_it() -> None:
    now = [100.0]
    sim = ModbusSimulator(clock=lambda: now[0])
    sim.receive_data(encode(FlashCoil(1, 0, 5)))
    assert sim.coils[0]
    now[0] += 0.4
    sim.poll(now[0])
    assert sim.coils[0]
    now[0] += 0.1
    sim.poll(now[0])
    assert not sim.coils[0]
    sim.receive_data(encode(FlashCoil(1, 0, 5)))
    sim.receive_data(encode(WriteCoil(1, 0, False)))  # the host relocks early (door closed)
    assert not sim.coils[0]
    assert sim.flash_until == {}


def test_a_board_that_refuses_the_timed_pulse_is_reported_and_still_unlocks(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    class NoFlash(ModbusSimulator):
        def _handle(self, event: object) -> Any:
            if isinstance(event, FlashCoil):
                return ExceptionReply(self.unit, 0x05, 0x02)
            return super()._handle(event)

    sim = NoFlash()
    host, driver, rec = start(serve, run_driver, sim, timed_pulse=True)
    driver.pulse(0.2)
    assert wait_until(lambda: rec["fault"].items != [])
    assert "refused the timed pulse" in rec["fault"].items[0]
    on = host.wait_for(bytes.fromhex("01 05 00 00 FF 00 8C 3A"))  # a plain ON instead
    assert on > 0
    assert host.wait_for(bytes.fromhex("01 05 00 00 00 00 CD CA"), start=on) > 0  # and OFF on time
