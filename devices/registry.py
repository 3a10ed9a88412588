"""Every simulator by catalog name: build one with its faults, and play its demo script.

``smartstore sim --list``, ``smartstore sim <name>``, the probe tests and ``devices selftest``
build simulators here; what each device is, its line settings and its faults are data in
``devices.catalog``. Simulator classes are imported on first use, so listing costs nothing and
a missing optional library (libosdp) only affects its own entry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from devices.catalog import CATALOG, GENERIC_FAULTS, DeviceSpec, Kind, get
from devices.faults import FaultPlan, FaultySimulator
from devices.pty import Simulator, SimulatorHost

__all__ = ["GENERIC_FAULTS", "SIMULATORS", "Cycle", "Kind", "SimulatorSpec", "build", "get", "inner"]

SimulatorSpec = DeviceSpec
SIMULATORS: tuple[DeviceSpec, ...] = CATALOG


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
    sim: Simulator = spec.new_simulator()
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
        spec: DeviceSpec,
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
        demo = self.spec.demo_script()
        next_demo = time.monotonic()
        next_unplug = time.monotonic() + self.unplug_every_s if self.unplug_every_s else None
        step = 0
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if demo is not None and now >= next_demo:
                demo(inner(self.host.simulator), step)
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
