"""The shape rules of the restructuring: small library modules, short functions, no benches in libraries.

The import-linter contracts run in ``test_boundaries.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("contracts", "devices", "models", "edge_agent", "cloud_sync")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def _library_files() -> list[Path]:
    return sorted(p for pkg in LIBRARIES for p in (REPO / pkg).rglob("*.py"))


def test_no_library_module_is_over_600_lines() -> None:
    too_long = {
        str(p.relative_to(REPO)): n
        for p in _library_files()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_library_function_is_over_100_lines() -> None:
    too_long = {}
    for path in _library_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = length
    assert too_long == {}


def test_no_library_package_holds_a_benchmark_or_test_helper() -> None:
    names = {"bench.py", "benchmark.py", "conftest.py", "broker.py"}
    found = [str(p.relative_to(REPO)) for p in _library_files() if p.name in names or p.name.endswith("_bench.py")]
    assert found == []
