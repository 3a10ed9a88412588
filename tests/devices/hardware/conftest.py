"""Opt-in tests against a real device: ``pytest tests/devices/hardware --port PORT --hw-device KIND``.

Without ``--port`` (or ``SMARTSTORE_HW_PORT``) every test here is skipped. Tests that change
the device (zero/tare, text on a display, **pulsing a relay, which opens a door**) also need
``--hw-write``. ``pytest_addoption`` only works from the directory given on the command line,
so pass ``tests/devices/hardware`` (not ``tests/devices``) together with ``--port``.
"""

from __future__ import annotations

import os

import pytest

KINDS = ("mtsics", "toledo8217", "cas", "escpos", "nextion", "scanner", "wiegand", "osdp", "lcus", "modbus")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--port``, ``--hw-device``, ``--hw-write`` and ``--hw-wait``."""
    group = parser.getgroup("hardware", "tests against a real serial device")
    group.addoption("--port", default=os.environ.get("SMARTSTORE_HW_PORT"), help="port or URL of the device under test")
    group.addoption(
        "--hw-device", default=os.environ.get("SMARTSTORE_HW_DEVICE"), choices=KINDS, help="which device is on --port"
    )
    group.addoption(
        "--hw-write", action="store_true", help="allow tests that change the device (zero, tare, text, relay pulse)"
    )
    group.addoption(
        "--hw-wait", type=float, default=20.0, help="seconds to wait for a person to scan or present a card"
    )
    group.addoption("--hw-scbk", default=None, help="OSDP secure channel base key of the reader, hex")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``hardware`` marker (also to be declared in pyproject.toml)."""
    config.addinivalue_line("markers", "hardware: needs a real device on --port; skipped without it")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip hardware tests without ``--port``."""
    if config.getoption("--port", default=None):
        return
    skip = pytest.mark.skip(reason="needs a real device: pytest tests/devices/hardware --port PORT --hw-device KIND")
    for item in items:
        if item.get_closest_marker("hardware"):
            item.add_marker(skip)


@pytest.fixture
def port(request: pytest.FixtureRequest) -> str:
    """Return the port under test."""
    return str(request.config.getoption("--port"))


@pytest.fixture
def hw(request: pytest.FixtureRequest) -> dict[str, object]:
    """Return the hardware options."""
    get = request.config.getoption
    return {
        "device": get("--hw-device"),
        "write": get("--hw-write"),
        "wait": get("--hw-wait"),
        "scbk": get("--hw-scbk"),
    }


def needs(hw: dict[str, object], *kinds: str, write: bool = False) -> None:
    """Skip unless the device under test is one of ``kinds`` (and writing is allowed if asked)."""
    if hw["device"] not in kinds:
        pytest.skip(f"--hw-device is {hw['device']}, this test is for {', '.join(kinds)}")
    if write and not hw["write"]:
        pytest.skip("changes the device: pass --hw-write (a relay pulse opens the door!)")
