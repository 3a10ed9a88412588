"""Architecture rules: codecs import only the stdlib; ``devices`` never imports the agent or cloud."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from devices import catalog

DEVICES = Path(__file__).resolve().parents[2] / "devices"
PROTOCOLS = sorted(DEVICES.glob("*/protocol.py"))
PURE = [*PROTOCOLS, DEVICES / "scales" / "settle.py", DEVICES / "scales" / "model.py", DEVICES / "screen.py"]


def imported(path: Path) -> set[str]:
    """Return the top-level names ``path`` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            names.add(".")  # relative imports are banned too
    return names


def test_every_protocol_package_has_the_four_files() -> None:
    packages = {p.parent.name for p in PROTOCOLS}
    # Every device package is in the catalog and every catalog entry has its package: adding a
    # device kind touches its own package and the catalog, nothing else.
    assert packages == {spec.package.removeprefix("devices.") for spec in catalog.CATALOG}
    assert "wiegand" in packages and "toledo8217" in packages
    for name in packages:
        for file in ("protocol.py", "driver.py", "simulator.py", "profiles.py"):
            assert (DEVICES / name / file).exists(), f"devices/{name}/{file} is missing"


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(DEVICES)))
def test_codecs_import_only_the_stdlib(path: Path) -> None:
    outside = {name for name in imported(path) if name != "__future__" and name not in sys.stdlib_module_names}
    assert outside == set(), f"{path.name} imports {outside}"


@pytest.mark.parametrize("path", sorted(DEVICES.rglob("*.py")), ids=lambda p: str(p.relative_to(DEVICES)))
def test_devices_never_imports_its_consumers(path: Path) -> None:
    assert not imported(path) & {"edge_agent", "models", "cloud_sync", "."}
