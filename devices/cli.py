"""``smartstore sim`` and ``smartstore devices probe|selftest`` (every device comes from ``devices.catalog``).

``register`` only declares arguments; each handler imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
import time
from typing import Any


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``sim`` and ``devices`` (probe, selftest) to the CLI."""
    sim = commands.add_parser(
        "sim",
        help="Run a device simulator on a pty or TCP port (for drivers, demos and technicians).",
        description="Serve a simulated serial device. Without --link/--tcp it prints the pty path to open.",
    )
    sim.add_argument("device", nargs="?", help="simulator name (see --list)")
    sim.add_argument("--list", action="store_true", help="list the simulators and their faults")
    sim.add_argument(
        "--fault", action="append", default=[], metavar="FAULT", help="inject a fault (repeatable; see --list)"
    )
    where = sim.add_mutually_exclusive_group()
    where.add_argument("--link", metavar="PATH", help="stable symlink to the pty (e.g. ./ttySCALE)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on socket://127.0.0.1:PORT instead of a pty")
    sim.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )
    sim.add_argument(
        "--unplug-every", type=float, default=10.0, metavar="S", help="with --fault unplug: seconds between unplugs"
    )
    sim.add_argument("--no-demo", action="store_true", help="do not run the demo script (weights, scans, cards)")
    sim.add_argument("--json", action="store_true", help="print machine-readable lines")
    sim.set_defaults(func=_sim)

    devices = commands.add_parser("devices", help="Probe serial ports and self-test the device drivers.")
    sub = devices.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    probe = sub.add_parser("probe", help="Identify the protocol each serial port speaks (never moves a lock).")
    probe.add_argument("--ports", nargs="+", metavar="URL", help="ports or URLs to probe (default: every serial port)")
    probe.add_argument("--listen", type=float, default=0.6, metavar="S", help="passive listen time per port")
    probe.add_argument("--mark", action="store_true", help="write the port name on unidentified ports (pole displays)")
    probe.add_argument("--json", action="store_true", help="print JSON")
    probe.set_defaults(func=_probe)
    selftest = sub.add_parser("selftest", help="Drive every device kind against its simulator on a pty.")
    selftest.add_argument(
        "--simulated", action="store_true", required=True, help="use simulators (the only mode so far)"
    )
    selftest.add_argument("--only", nargs="+", metavar="DEVICE", help="simulator names to test (default: all)")
    selftest.add_argument("--json", action="store_true", help="print JSON")
    selftest.set_defaults(func=_selftest)


# ---------------------------------------------------------------- handlers
def _sim(args: argparse.Namespace) -> int:
    from devices import registry

    if args.list or not args.device:
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "name": s.name,
                            "kind": s.kind,
                            "protocol": s.protocol,
                            "description": s.description,
                            "line": s.settings.describe(),
                            "faults": list(s.faults),
                        }
                        for s in registry.SIMULATORS
                    ],
                    indent=2,
                )
            )
        else:
            for s in registry.SIMULATORS:
                print(f"{s.name:<11} {s.kind:<8} {s.settings.describe():<9} {s.description}")
                print(f"{'':<11} faults: {', '.join(s.faults)}")
        return 0 if args.list else 2
    try:
        spec = registry.get(args.device)
        sim = registry.build(args.device, [f for f in args.fault if f != "unplug"])
        if "unplug" in args.fault and "unplug" not in spec.faults:
            raise ValueError("unplug is not a fault of this simulator")
    except (KeyError, ValueError) as err:
        print(f"smartstore sim: {err.args[0]}", file=sys.stderr)
        return 2
    from devices.pty import PtySimulatorHost, TcpSimulatorHost

    host = TcpSimulatorHost(sim, args.tcp) if args.tcp is not None else PtySimulatorHost(sim, args.link)
    host.start()
    cycle = registry.Cycle(
        host,
        spec if not args.no_demo else dataclasses.replace(spec, demo=None),
        unplug_every_s=args.unplug_every if "unplug" in args.fault else None,
    ).start()
    info = {"device": spec.name, "url": host.url, "line": spec.settings.describe(), "faults": args.fault}
    print(
        json.dumps(info)
        if args.json
        else f"{spec.name} simulator at {host.url} ({spec.settings.describe()}); "
        f"faults: {', '.join(args.fault) or 'none'}",
        flush=True,
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        cycle.stop()
        host.stop()
    return 0


def _probe(args: argparse.Namespace) -> int:
    from devices.probe import probe_ports

    results = probe_ports(args.ports, listen_s=args.listen, mark=args.mark)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    elif not results:
        print("no serial ports found (is the adapter plugged in? is the user in the dialout group?)")
    else:
        for result in results:
            print(result.summary())
    return 1 if any(r.error for r in results) else 0


def _selftest(args: argparse.Namespace) -> int:
    from devices.selftest import run

    started = time.monotonic()
    reports = run(args.only)
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        for report in reports:
            failed = [c for c in report.checks if not c.ok]
            print(
                f"{'ok  ' if report.ok else 'FAIL'} {report.device:<11} {report.protocol:<12} "
                f"{len(report.checks)} checks, {report.seconds:.1f} s"
            )
            for check in failed:
                print(f"     failed: {check.name}: {check.detail}")
        print(f"{sum(r.ok for r in reports)}/{len(reports)} devices ok in {time.monotonic() - started:.1f} s")
    return 0 if all(r.ok for r in reports) else 1
