"""The device catalog: every entry points at real code, and names follow the package."""

from __future__ import annotations

import importlib

import pytest

from devices import catalog
from devices.transport import SerialSettings

NAMES = [spec.name for spec in catalog.CATALOG]


def test_names_are_unique() -> None:
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_each_entry_resolves_to_its_package(name: str) -> None:
    spec = catalog.get(name)
    assert isinstance(spec.settings, SerialSettings)
    package = spec.package.rsplit(".", 1)[-1]
    for suffix, found in (("Driver", spec.driver), ("Simulator", spec.simulator)):
        assert found.lower() == f"{package}{suffix}".lower(), f"{found} does not follow the package name {package}"
    if name != "osdp":  # libosdp is optional; its entry resolves only where it is installed
        assert spec.driver_class().__module__ == f"{spec.package}.driver"
        assert spec.simulator_class().__module__ == f"{spec.package}.simulator"
        assert callable(spec.selftest())
    codec = getattr(importlib.import_module(f"{spec.package}.protocol"), spec.driver.replace("Driver", "Codec"))
    assert codec.__name__.endswith("Codec")
    if spec.config is not None:
        assert spec.config.model_fields["type"].default == name
        needs = {"insecure": True} if name == "osdp" else {}  # an OSDP reader needs its key source named
        assert spec.config(url="loop://", **needs).type == name
    assert set(spec.faults) >= set(catalog.GENERIC_FAULTS)


def test_probe_steps_are_ordered_and_never_silent_for_queries() -> None:
    queries = catalog.query_steps()
    assert [s.priority for s in queries] == sorted(s.priority for s in queries)
    assert all(s.request for s in queries)
    assert all(s.request is None for s in catalog.passive_steps())


def test_expected_protocols_of_the_agent_devices() -> None:
    expected = {spec.name: spec.expected_protocols() for spec in catalog.CATALOG if spec.config is not None}
    assert expected == {
        "lcus": ("lcus", None),
        "modbus": ("modbus",),
        "scanner": ("scanner", None),
        "mtsics": ("mt-sics",),
        "toledo8217": ("toledo-8217",),
        "cas": ("cas",),
        "nextion": ("nextion",),
        "escpos": (None,),
        "wiegand": ("wiegand", None),  # an idle converter or keypad says nothing
        "keypad": ("wiegand", None),
        "osdp": ("osdp",),
    }
