"""The device catalog: every serial device the store knows, as one table of plain data.

One ``DeviceSpec`` per catalog name says what the device is (kind, protocol, description),
where its code lives (``devices.<package>``: driver, simulator, selftest, demo script), its
default profile (the line settings come from it), the harmless probe steps that identify it,
the faults its simulator takes and the config model the agent's TOML selects it with
(``type = "<name>"``). ``devices.registry`` (``smartstore sim``), ``devices.probe``,
``devices.selftest``, the agent's bootstraps and ``agent check`` all read this table, the way
zigbee-herdsman-converters reads its device definitions and Home Assistant its entity
descriptions. Classes and functions are named as strings and imported on first use, so listing
the catalog costs nothing and a missing optional library (libosdp) only affects its own entry.

Adding a device: write its package, then add one entry here (docs/devices.md, "Adding a device").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag

from devices.cas import protocol as cas
from devices.cas.profiles import CAS_22, CasConfig
from devices.config import DeviceConfig
from devices.escpos.profiles import EPSON_DM_D, EscposConfig
from devices.lcus import protocol as lcus
from devices.lcus.profiles import LCUS, LcusConfig
from devices.modbus import protocol as modbus
from devices.modbus.profiles import MODBUS_9600_8N1, MODBUS_SPEC_DEFAULT, ModbusConfig
from devices.mtsics import protocol as mtsics
from devices.mtsics.profiles import BALANCE_0_01G, MtSicsConfig
from devices.nextion import protocol as nextion
from devices.nextion.profiles import NEXTION_9600, NextionConfig
from devices.osdp import protocol as osdp
from devices.osdp.profiles import OSDP_9600, OSDP_115200, TEST_SCBK, OsdpConfig
from devices.scanner import protocol as scanner
from devices.scanner.profiles import GENERIC_CRLF, ScannerConfig
from devices.toledo8217 import protocol as toledo8217
from devices.toledo8217.profiles import TOLEDO_8217, Toledo8217Config
from devices.transport import SerialSettings
from devices.wiegand import protocol as wiegand
from devices.wiegand.profiles import HEX_FRAME, KeypadConfig, WiegandConfig

Kind = Literal["scale", "display", "reader", "lock"]
Trait = Literal["inputs", "touch"]
GENERIC_FAULTS = ("garbage", "delay", "drop", "unplug")
Details = dict[str, str]
Identify = Callable[[bytes], Details | None]

_8N1 = SerialSettings()


@dataclass(frozen=True)
class ProbeStep:
    """One way to identify a protocol: listen (``request`` None) or send a harmless query.

    ``identify`` turns what came back into details (or None). Passive steps all share one
    8N1 listen before any query is sent; ``priority`` orders the steps of either sort, lowest
    first (Odoo's driver priority). ``after`` is written when the step is over (8217: leave
    echo mode). Every byte a step may write is fed to the device-side codecs of the locks and
    scales by ``tests/devices/test_probe.py``.
    """

    protocol: str
    device: str
    settings: SerialSettings
    request: bytes | None
    listen_s: float
    identify: Identify
    after: bytes = b""
    priority: int = 50


@dataclass(frozen=True)
class Fault:
    """A device-specific fault: the simulator attribute that switches it on, and the value."""

    name: str
    attribute: str
    value: object = True


_SCALE_FAULTS = (Fault("unstable", "unstable"), Fault("overload", "overload"))


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the catalog (the name is the ``type`` of its config and of ``sim <name>``)."""

    name: str
    kind: Kind
    protocol: str
    description: str
    package: str
    profile: Any
    driver: str
    simulator: str
    simulator_options: Mapping[str, Any] = field(default_factory=dict)
    probe: tuple[ProbeStep, ...] = ()
    silent_ok: bool = False
    device_faults: tuple[Fault, ...] = ()
    demo: str | None = None
    config: type[DeviceConfig] | None = None
    traits: frozenset[Trait] = frozenset()

    @property
    def settings(self) -> SerialSettings:
        """Return the line settings of the default profile."""
        return self.profile if isinstance(self.profile, SerialSettings) else self.profile.serial

    @property
    def specific_faults(self) -> tuple[str, ...]:
        """Return the names of this device's own faults."""
        return tuple(f.name for f in self.device_faults)

    @property
    def faults(self) -> tuple[str, ...]:
        """Return every fault name this simulator accepts."""
        return self.specific_faults + GENERIC_FAULTS

    def driver_class(self) -> Any:
        """Import and return the driver class (host role)."""
        return _resolve(f"{self.package}.driver:{self.driver}")

    def simulator_class(self) -> Any:
        """Import and return the simulator class (device role)."""
        return _resolve(f"{self.package}.simulator:{self.simulator}")

    def new_simulator(self) -> Any:
        """Build a fresh simulator with this entry's options and no faults."""
        return self.simulator_class()(**self.simulator_options)

    def apply_faults(self, sim: Any, faults: frozenset[str]) -> None:
        """Switch on the device-specific ``faults`` of ``sim`` (generic ones wrap it elsewhere)."""
        for fault in self.device_faults:
            if fault.name in faults:
                setattr(sim, fault.attribute, fault.value)

    def demo_script(self) -> Callable[[Any, int], None] | None:
        """Import and return the ``smartstore sim`` demo script, if this device has one."""
        return _resolve(self.demo) if self.demo else None

    def selftest(self) -> Callable[[Any, str, Any], None]:
        """Import and return the package's selftest (``selftest(report, url, simulator)``)."""
        return _resolve(f"{self.package}.selftest:selftest")  # type: ignore[no-any-return, unused-ignore]

    def expected_protocols(self) -> tuple[str | None, ...]:
        """Return what ``devices.probe`` may name for this device; None: it may never answer."""
        identifiable = any(step.protocol == self.protocol for spec in CATALOG for step in spec.probe)
        found: tuple[str | None, ...] = (self.protocol,) if identifiable else ()
        return (*found, None) if self.silent_ok or not identifiable else found


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_MTSICS = "Mettler Toledo MT-SICS scale"
_MODBUS = "Modbus RTU IO module"
_OSDP = "OSDP reader"

CATALOG: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        name="mtsics",
        kind="scale",
        protocol="mt-sics",
        description="Mettler Toledo MT-SICS balance (S/SI/Z/T/TA/TAC/@), 0.01 g",
        package="devices.mtsics",
        profile=BALANCE_0_01G,
        driver="MtSicsDriver",
        simulator="MtSicsSimulator",
        probe=(
            ProbeStep("mt-sics", _MTSICS, _8N1, None, 0, mtsics.identify_greeting, priority=30),
            ProbeStep("mt-sics", _MTSICS, _8N1, mtsics.probe_request(), 0.3, mtsics.identify, priority=10),
        ),
        device_faults=_SCALE_FAULTS,
        demo="devices.scales.model:demo",
        config=MtSicsConfig,
    ),
    DeviceSpec(
        name="toledo8217",
        kind="scale",
        protocol="toledo-8217",
        description="Toledo 8217 / ECR 'W' scale, 7E1, echo mode for the Ehello probe",
        package="devices.toledo8217",
        profile=TOLEDO_8217,
        driver="Toledo8217Driver",
        simulator="Toledo8217Simulator",
        probe=(
            ProbeStep(
                "toledo-8217",
                "Toledo 8217 scale",
                TOLEDO_8217.serial,
                toledo8217.probe_request(),
                0.3,
                toledo8217.identify,
                after=toledo8217.probe_after(),
                priority=20,
            ),
        ),
        device_faults=_SCALE_FAULTS,
        demo="devices.scales.model:demo",
        config=Toledo8217Config,
    ),
    DeviceSpec(
        name="cas",
        kind="scale",
        protocol="cas",
        description="CAS indicator streaming 22-byte ST/US,GS/NT frames at 10 Hz",
        package="devices.cas",
        profile=CAS_22,
        driver="CasDriver",
        simulator="CasSimulator",
        probe=(ProbeStep("cas", "CAS scale (continuous output)", _8N1, None, 0, cas.identify, priority=10),),
        device_faults=_SCALE_FAULTS,
        demo="devices.scales.model:demo",
        config=CasConfig,
    ),
    DeviceSpec(
        name="escpos",
        kind="display",
        protocol="escpos",
        description="2x20 ESC/POS customer pole display (Epson DM-D commands)",
        package="devices.escpos",
        profile=EPSON_DM_D,
        driver="EscposDriver",
        simulator="EscposSimulator",
        config=EscposConfig,
    ),
    DeviceSpec(
        name="nextion",
        kind="display",
        protocol="nextion",
        description="Nextion HMI with home/choices/basket pages, touch events",
        package="devices.nextion",
        profile=NEXTION_9600,
        driver="NextionDriver",
        simulator="NextionSimulator",
        probe=(
            ProbeStep("nextion", "Nextion display", _8N1, nextion.probe_request(), 0.3, nextion.identify, priority=30),
        ),
        device_faults=(Fault("silent", "ignore_instructions"),),
        demo="devices.nextion.simulator:demo",
        config=NextionConfig,
        traits=frozenset({"touch"}),
    ),
    DeviceSpec(
        name="scanner",
        kind="reader",
        protocol="scanner",
        description="Serial QR/barcode scanner, one CR LF line per scan",
        package="devices.scanner",
        profile=GENERIC_CRLF,
        driver="ScannerDriver",
        simulator="ScannerSimulator",
        probe=(ProbeStep("scanner", "serial code scanner", _8N1, None, 0, scanner.identify, priority=40),),
        silent_ok=True,  # an idle scanner says nothing
        demo="devices.scanner.simulator:demo",
        config=ScannerConfig,
    ),
    DeviceSpec(
        name="wiegand",
        kind="reader",
        protocol="wiegand",
        description="Wiegand-to-serial converter: W26 card reader + 4-bit keypad (hex frames)",
        package="devices.wiegand",
        profile=HEX_FRAME,
        driver="WiegandDriver",
        simulator="WiegandSimulator",
        probe=(
            ProbeStep("wiegand", "Wiegand converter (reader/keypad)", _8N1, None, 0, wiegand.identify, priority=20),
        ),
        silent_ok=True,  # an idle converter says nothing until a card or key
        device_faults=(Fault("bad-parity", "bad_parity"),),
        demo="devices.wiegand.simulator:demo",
        config=WiegandConfig,
    ),
    DeviceSpec(
        name="keypad",
        kind="reader",
        protocol="wiegand",
        description="Wiegand keypad sending 8-bit (nibble + complement) keys",
        package="devices.wiegand",
        profile=HEX_FRAME,
        driver="WiegandDriver",
        simulator="WiegandSimulator",
        simulator_options={"key_bits": 8},
        silent_ok=True,
        device_faults=(Fault("bad-parity", "bad_parity"),),
        demo="devices.wiegand.simulator:keypad_demo",
        config=KeypadConfig,
    ),
    DeviceSpec(
        name="osdp",
        kind="reader",
        protocol="osdp",
        description="OSDP reader (libosdp PD mode), address 1, secure channel with the test key",
        package="devices.osdp",
        profile=OSDP_9600,
        driver="OsdpDriver",
        simulator="OsdpSimulator",
        simulator_options={"address": 1, "scbk": TEST_SCBK},
        probe=(
            ProbeStep("osdp", _OSDP, OSDP_9600.serial, osdp.probe_request(), 0.25, osdp.identify, priority=60),
            ProbeStep("osdp", _OSDP, OSDP_115200.serial, osdp.probe_request(), 0.25, osdp.identify, priority=61),
        ),
        demo="devices.osdp.simulator:demo",
        config=OsdpConfig,
    ),
    DeviceSpec(
        name="lcus",
        kind="lock",
        protocol="lcus",
        description="LCUS-4 USB relay board (A0 ch op sum; FF status query)",
        package="devices.lcus",
        profile=LCUS,
        driver="LcusDriver",
        simulator="LcusSimulator",
        simulator_options={"channels": 4},
        probe=(ProbeStep("lcus", "LCUS USB relay board", LCUS, lcus.probe_request(), 0.3, lcus.identify, priority=50),),
        silent_ok=True,  # an LCUS-1 has no status query
        device_faults=(Fault("stuck", "stuck"), Fault("stale-status", "stale_status")),
        config=LcusConfig,
    ),
    DeviceSpec(
        name="modbus",
        kind="lock",
        protocol="modbus",
        description="Modbus RTU IO module, unit 1: 8 coils (lock) + 8 inputs (door contact, REX)",
        package="devices.modbus",
        profile=MODBUS_9600_8N1,
        driver="ModbusDriver",
        simulator="ModbusSimulator",
        probe=(
            ProbeStep("modbus", _MODBUS, MODBUS_9600_8N1, modbus.probe_request(), 0.25, modbus.identify, priority=40),
            ProbeStep(
                "modbus", _MODBUS, MODBUS_SPEC_DEFAULT, modbus.probe_request(), 0.25, modbus.identify, priority=41
            ),
        ),
        device_faults=(Fault("stuck", "stuck"), Fault("silent", "silent"), Fault("exception", "exception_code", 0x04)),
        demo="devices.modbus.simulator:demo",
        config=ModbusConfig,
        traits=frozenset({"inputs"}),
    ),
)


def get(name: str) -> DeviceSpec:
    """Return the catalog entry called ``name``.

    Raises:
        KeyError: no such device.
    """
    for spec in CATALOG:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown simulator {name!r}; known: {', '.join(s.name for s in CATALOG)}")


def of_kind(kind: Kind) -> tuple[DeviceSpec, ...]:
    """Return the entries of one kind, in catalog order."""
    return tuple(spec for spec in CATALOG if spec.kind == kind)


def passive_steps() -> tuple[ProbeStep, ...]:
    """Return every listen-only probe step, by priority."""
    return tuple(sorted((s for spec in CATALOG for s in spec.probe if s.request is None), key=lambda s: s.priority))


def query_steps() -> tuple[ProbeStep, ...]:
    """Return every probe step that sends a query, by priority."""
    return tuple(sorted((s for spec in CATALOG for s in spec.probe if s.request is not None), key=lambda s: s.priority))


def config_union(kind: Kind, *, default: str | None = None) -> Any:
    """Return the discriminated union (on ``type``) of the config models of ``kind``'s devices.

    With ``default`` a config without ``type`` is read as that device (the TOML shape of
    settings files written before ``type`` was required).
    """
    models = [spec.config for spec in of_kind(kind) if spec.config is not None]
    if default is None:
        return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
    tagged = tuple(Annotated[model, Tag(model.model_fields["type"].default)] for model in models)

    def tag(value: Any) -> Any:
        return value.get("type", default) if isinstance(value, dict) else getattr(value, "type", None)

    return Annotated[Union[tagged], Discriminator(tag)]  # noqa: UP007
