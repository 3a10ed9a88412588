"""Package boundaries (import-linter contracts in pyproject.toml) and lint stay clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (dev extra)")
    return found


def test_import_contracts_are_kept() -> None:
    result = subprocess.run([_tool("lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_domain_core_does_not_load_io_libraries() -> None:
    code = (
        "import sys, edge_agent.domain.door, edge_agent.domain.access;"
        "io = ('paho', 'serial', 'cv2', 'onnxruntime', 'sqlalchemy', 'fastapi', 'sqlite3');"
        "bad = [m for m in io if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from smartstore.cli import build_parser; build_parser();"
        "print(','.join(m for m in ('torch', 'cv2', 'onnxruntime', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
