"""Every simulator by name, as plain data: what it is, its line settings and the faults it takes.

``smartstore sim --list``, ``smartstore sim <name>``, the probe tests and ``devices selftest``
all read this one table. Factories import their simulator lazily, so listing costs nothing and
a missing optional library (libosdp) only affects its own entry.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from devices.faults import FaultPlan, FaultySimulator
from devices.pty import Simulator, SimulatorHost
from devices.transport import SerialSettings

Kind = Literal["scale", "display", "reader", "lock"]
GENERIC_FAULTS = ("garbage", "delay", "drop", "unplug")


def _build(module: str, cls: str, **kwargs: Any) -> Any:
    return getattr(importlib.import_module(module), cls)(**kwargs)


# ---------------------------------------------------------------- device-specific fault setters
def _scale_faults(sim: Any, faults: frozenset[str]) -> None:
    sim.model.unstable = "unstable" in faults
    sim.model.overload = "overload" in faults


def _relay_faults(sim: Any, faults: frozenset[str]) -> None:
    sim.stuck = "stuck" in faults
    if hasattr(sim, "stale_status"):
        sim.stale_status = "stale-status" in faults
    if hasattr(sim, "silent"):
        sim.silent = "silent" in faults
    if hasattr(sim, "exception_code"):
        sim.exception_code = 0x04 if "exception" in faults else None


def _wiegand_faults(sim: Any, faults: frozenset[str]) -> None:
    sim.bad_parity = "bad-parity" in faults


def _nextion_faults(sim: Any, faults: frozenset[str]) -> None:
    sim.ignore_instructions = "silent" in faults


def _no_faults(sim: Any, faults: frozenset[str]) -> None:
    """Only generic faults apply."""


# ---------------------------------------------------------------- demo scripts for `smartstore sim`
_WEIGHTS_G = (0.0, 250.0, 1235.0, 1235.0, 0.0, 500.0)


def _demo_scale(sim: Any, step: int) -> None:
    sim.model.place(_WEIGHTS_G[step % len(_WEIGHTS_G)], 0.4)


def _demo_scanner(sim: Any, step: int) -> None:
    sim.scan(("4006381333931", "5449000000996", "SMARTSTORE-MEMBER-42")[step % 3])


def _demo_wiegand(sim: Any, step: int) -> None:
    if step % 2:
        sim.keys("1234#")
    else:
        sim.card(101, 4095 + step)


def _demo_osdp(sim: Any, step: int) -> None:
    sim.card(101, 4095 + step)


def _demo_nextion(sim: Any, step: int) -> None:
    if sim.page.name == "choices":
        sim.touch(("b0", "b1", "b2")[step % 3])


def _demo_modbus(sim: Any, step: int) -> None:
    sim.set_input(0, bool(step % 2))  # door contact opens and closes


@dataclass(frozen=True)
class SimulatorSpec:
    """One simulator: name, what it simulates and how it is built."""

    name: str
    kind: Kind
    protocol: str
    description: str
    settings: SerialSettings
    factory: Callable[[], Any]
    specific_faults: tuple[str, ...] = ()
    apply_faults: Callable[[Any, frozenset[str]], None] = _no_faults
    demo: Callable[[Any, int], None] | None = None

    @property
    def faults(self) -> tuple[str, ...]:
        """Return every fault name this simulator accepts."""
        return self.specific_faults + GENERIC_FAULTS


_8N1 = SerialSettings()
_7E1 = SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)

SIMULATORS: tuple[SimulatorSpec, ...] = (
    SimulatorSpec(
        "mtsics",
        "scale",
        "mt-sics",
        "Mettler Toledo MT-SICS balance (S/SI/Z/T/TA/TAC/@), 0.01 g",
        _8N1,
        lambda: _build("devices.mtsics.simulator", "MtSicsSimulator"),
        ("unstable", "overload"),
        _scale_faults,
        _demo_scale,
    ),
    SimulatorSpec(
        "toledo8217",
        "scale",
        "toledo-8217",
        "Toledo 8217 / ECR 'W' scale, 7E1, echo mode for the Ehello probe",
        _7E1,
        lambda: _build("devices.toledo8217.simulator", "Toledo8217Simulator"),
        ("unstable", "overload"),
        _scale_faults,
        _demo_scale,
    ),
    SimulatorSpec(
        "cas",
        "scale",
        "cas",
        "CAS indicator streaming 22-byte ST/US,GS/NT frames at 10 Hz",
        _8N1,
        lambda: _build("devices.cas.simulator", "CasSimulator"),
        ("unstable", "overload"),
        _scale_faults,
        _demo_scale,
    ),
    SimulatorSpec(
        "escpos",
        "display",
        "escpos",
        "2x20 ESC/POS customer pole display (Epson DM-D commands)",
        _8N1,
        lambda: _build("devices.escpos.simulator", "EscposSimulator"),
    ),
    SimulatorSpec(
        "nextion",
        "display",
        "nextion",
        "Nextion HMI with home/choices/basket pages, touch events",
        _8N1,
        lambda: _build("devices.nextion.simulator", "NextionSimulator"),
        ("silent",),
        _nextion_faults,
        _demo_nextion,
    ),
    SimulatorSpec(
        "scanner",
        "reader",
        "scanner",
        "Serial QR/barcode scanner, one CR LF line per scan",
        _8N1,
        lambda: _build("devices.scanner.simulator", "ScannerSimulator"),
        (),
        _no_faults,
        _demo_scanner,
    ),
    SimulatorSpec(
        "wiegand",
        "reader",
        "wiegand",
        "Wiegand-to-serial converter: W26 card reader + 4-bit keypad (hex frames)",
        _8N1,
        lambda: _build("devices.wiegand.simulator", "WiegandSimulator"),
        ("bad-parity",),
        _wiegand_faults,
        _demo_wiegand,
    ),
    SimulatorSpec(
        "keypad",
        "reader",
        "wiegand",
        "Wiegand keypad sending 8-bit (nibble + complement) keys",
        _8N1,
        lambda: _build("devices.wiegand.simulator", "WiegandSimulator", key_bits=8),
        ("bad-parity",),
        _wiegand_faults,
        lambda sim, step: sim.keys(("2468#", "13*5790#")[step % 2]),
    ),
    SimulatorSpec(
        "osdp",
        "reader",
        "osdp",
        "OSDP reader (libosdp PD mode), address 1, secure channel with the test key",
        _8N1,
        lambda: _build("devices.osdp.simulator", "OsdpSimulator", address=1, scbk=_test_scbk()),
        (),
        _no_faults,
        _demo_osdp,
    ),
    SimulatorSpec(
        "lcus",
        "lock",
        "lcus",
        "LCUS-4 USB relay board (A0 ch op sum; FF status query)",
        _8N1,
        lambda: _build("devices.lcus.simulator", "LcusSimulator", channels=4),
        ("stuck", "stale-status"),
        _relay_faults,
    ),
    SimulatorSpec(
        "modbus",
        "lock",
        "modbus",
        "Modbus RTU IO module, unit 1: 8 coils (lock) + 8 inputs (door contact, REX)",
        _8N1,
        lambda: _build("devices.modbus.simulator", "ModbusSimulator"),
        ("stuck", "silent", "exception"),
        _relay_faults,
        _demo_modbus,
    ),
)


def _test_scbk() -> bytes:
    from devices.osdp.profiles import TEST_SCBK

    return TEST_SCBK


def get(name: str) -> SimulatorSpec:
    """Return the simulator called ``name``.

    Raises:
        KeyError: no such simulator.
    """
    for spec in SIMULATORS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown simulator {name!r}; known: {', '.join(s.name for s in SIMULATORS)}")


def build(name: str, faults: Iterable[str] = (), *, garbage_every_s: float = 1.0, delay_s: float = 0.3) -> Simulator:
    """Build simulator ``name`` with ``faults`` applied (``unplug`` is the host's job).

    Raises:
        KeyError: unknown simulator.
        ValueError: a fault this simulator does not take.
    """
    spec = get(name)
    wanted = frozenset(faults)
    unknown = wanted - set(spec.faults)
    if unknown:
        raise ValueError(f"{name} takes faults {', '.join(spec.faults)}; not {', '.join(sorted(unknown))}")
    sim: Simulator = spec.factory()
    spec.apply_faults(sim, wanted)
    plan = FaultPlan(
        garbage_every_s=garbage_every_s if "garbage" in wanted else None,
        delay_s=delay_s if "delay" in wanted else 0.0,
        drop_ratio=0.3 if "drop" in wanted else 0.0,
    )
    if plan.garbage_every_s or plan.delay_s or plan.drop_ratio:
        return FaultySimulator(sim, plan)
    return sim


def inner(sim: Simulator) -> Any:
    """Return the simulator inside a ``FaultySimulator`` (or ``sim`` itself)."""
    return sim.inner if isinstance(sim, FaultySimulator) else sim


class Cycle:
    """Run a simulator's demo script and the ``unplug`` fault on a background thread."""

    def __init__(
        self,
        host: SimulatorHost,
        spec: SimulatorSpec,
        *,
        demo_every_s: float = 4.0,
        unplug_every_s: float | None = None,
        down_s: float = 2.0,
    ) -> None:
        """Prepare the cycle for ``host`` (already started)."""
        self.host = host
        self.spec = spec
        self.demo_every_s = demo_every_s
        self.unplug_every_s = unplug_every_s
        self.down_s = down_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-cycle", daemon=True)
        self.log: list[str] = []

    def start(self) -> Cycle:
        """Start the thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        next_demo = time.monotonic()
        next_unplug = time.monotonic() + self.unplug_every_s if self.unplug_every_s else None
        step = 0
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if self.spec.demo is not None and now >= next_demo:
                self.spec.demo(inner(self.host.simulator), step)
                step += 1
                next_demo = now + self.demo_every_s
            if next_unplug is not None and self.unplug_every_s and now >= next_unplug:
                self.host.unplug()
                self.log.append("unplugged")
                if self._stop.wait(self.down_s):
                    return
                self.host.replug()
                self.log.append("replugged")
                next_unplug = time.monotonic() + self.unplug_every_s
