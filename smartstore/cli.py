"""The ``smartstore`` command line: one entry point, subcommands contributed by each package.

Each package exposes ``register(commands)`` in its own ``cli`` module; the benchmarks live with the
application in ``smartstore.bench`` (``smartstore.bench.cli``). ``register`` only
declares arguments; the handler it sets with ``set_defaults(func=...)`` imports the heavy
modules (OpenCV, ONNX Runtime, SQLAlchemy, torch) when it runs, so ``smartstore --help`` stays fast.
A handler takes the parsed namespace and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Packages that contribute subcommands, in the order they appear in --help.
CLI_MODULES = ("edge_agent.cli", "devices.cli", "models.cli", "cloud_sync.cli", "smartstore.commands")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every package's ``register`` and the benchmarks."""
    parser = argparse.ArgumentParser(
        prog="smartstore",
        description="Unattended night-store system: door, devices, checkout, model and cloud sync.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench_parser = commands.add_parser("bench", help="Run a benchmark and print JSON figures.")
    bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name in CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a package not installed in this slim build
            if err.name is not None and name.startswith(err.name):
                continue
            raise
        module.register(commands)
    from smartstore.bench.cli import register as register_benchmarks

    register_benchmarks(bench, _subcommands_of(commands, "model"))
    return parser


def _subcommands_of(commands: argparse._SubParsersAction, name: str) -> argparse._SubParsersAction | None:
    """The sub-command action of top-level command ``name`` (None when that command is absent)."""
    parser = commands.choices.get(name)
    if parser is None:
        return None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    sys.stdout.flush()
    return int(code or 0)
