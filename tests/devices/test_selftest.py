"""``devices selftest``: a failing device is reported, never crashes the run."""

from __future__ import annotations

from typing import Any

import pytest

from devices import selftest


def test_all_devices_pass() -> None:
    reports = selftest.run()
    assert [(r.device, r.ok) for r in reports if not r.ok] == []
    assert len(reports) == 11
    assert all(len(r.checks) >= 2 for r in reports)


def test_a_crashing_test_is_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(report: selftest.DeviceReport, url: str, sim: Any) -> None:
        report.check("first", True)
        raise RuntimeError("driver exploded")

    monkeypatch.setitem(selftest.TESTS, "scanner", boom)
    [report] = selftest.run(["scanner"])
    assert not report.ok
    assert report.checks[-1].name == "run"
    assert "driver exploded" in report.checks[-1].detail


def test_a_faulty_device_fails_its_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    original = selftest.registry.build
    monkeypatch.setattr(selftest.registry, "build", lambda name, faults=(): original(name, ["stuck"]))
    [report] = selftest.run(["lcus"])
    assert not report.ok
    assert next(c.name for c in report.checks if not c.ok) == "pulse ON"
