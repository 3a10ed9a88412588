"""``smartstore bench door|checkout|ingest|devices|model|chaos`` (and the ``model bench`` alias).

Each handler imports its benchmark when it runs, so ``smartstore --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(bench: argparse._SubParsersAction[Any], model: argparse._SubParsersAction[Any] | None = None) -> None:
    """Add every benchmark under ``bench``; ``model bench`` too when the model commands are installed."""
    door = bench.add_parser("door", help="QR in frame -> unlock bytes on the serial line (JSON).")
    door.add_argument("--samples", type=int, default=300)
    door.add_argument("--json", action="store_true", help="print JSON (the default output)")
    door.set_defaults(func=_bench_door)

    checkout = bench.add_parser("checkout", help="Scripted baskets of real photos through the checkout (JSON).")
    checkout.add_argument("--data", default=None, help="grocery-store dataset directory (default: beside the repo)")
    checkout.add_argument("--items", type=int, default=None, help="how many validation photos (default: all)")
    checkout.add_argument("--seed", type=int, default=0)
    checkout.add_argument("--json", action="store_true", help="print JSON (the default output)")
    checkout.set_defaults(func=_bench_checkout)

    b = bench.add_parser("ingest", help="Burst of store events through Mosquitto into N ingest workers.")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    b.add_argument("--database-url", help="PostgreSQL server URL (a fresh schema is created and dropped)")
    b.add_argument("--workers", type=int, default=1)
    b.add_argument("--events", type=int, default=20_000)
    b.add_argument("--batch-size", type=int, default=500)
    b.add_argument("--rate", type=float, default=0.0, help="publish rate limit in events/s (0 = burst)")
    b.add_argument("--dup-ratio", type=float, default=0.02, help="share of events re-sent as duplicates (default 0.02)")
    b.set_defaults(func=_bench_ingest)

    outbox = bench.add_parser("outbox", help="The agent's outbox and pump against raw paho; replay; end-to-end acks.")
    outbox.add_argument("--events", type=int, default=20_000)
    outbox.add_argument("--json", action="store_true", help="print JSON (the default output)")
    outbox.set_defaults(func=_bench_outbox)

    devices = bench.add_parser("devices", help="Weight latency, line overhead and screen render time.")
    devices.add_argument("--trials", type=int, default=20, help="weight changes / screens per device")
    devices.add_argument("--json", action="store_true", help="print JSON (the default output is JSON too)")
    devices.set_defaults(func=_bench_devices)

    chaos = bench.add_parser("chaos", help="Set test: random kills and restarts; every event committed once (JSON).")
    chaos.add_argument("--faults", type=int, default=200, help="how many faults to inject (default 200)")
    chaos.add_argument("--seed", type=int, default=None, help="random seed of the fault schedule (default: random)")
    chaos.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    chaos.add_argument(
        "--database-url", help="PostgreSQL server URL; a fresh chaos_* database is created on it and dropped"
    )
    chaos.add_argument("--session-expiry-s", type=int, default=3, help="ingest workers' session expiry (default 3)")
    chaos.add_argument("--workdir", help="keep processes' logs here (default: a temporary directory, removed)")
    chaos.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    chaos.set_defaults(func=_bench_chaos)

    for parser, name in ((bench, "model"), *(((model, "bench"),) if model is not None else ())):
        p = parser.add_parser(name, help="Latency p50/p99 at 1 and 2 threads and RSS, as JSON.")
        p.add_argument("--model", default=None, help="model dir or .onnx (default: shipped)")
        p.add_argument("--data", default=None, help="dataset dir for a real test image (optional)")
        p.add_argument("--iterations", type=int, default=200)
        p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
        p.add_argument("--json", action="store_true", help="JSON output (always on)")
        p.set_defaults(func=_bench_model)


def _bench_door(args: argparse.Namespace) -> int:
    from smartstore.bench.door import run_door_bench

    print(json.dumps(run_door_bench(samples=args.samples), indent=2))
    return 0


def _bench_checkout(args: argparse.Namespace) -> int:
    from models.labels import default_data_dir
    from smartstore.bench.checkout import run_checkout_bench

    data = Path(args.data) if args.data else default_data_dir()
    if not (data / "val.txt").exists():
        print(f"error: no validation split at {data} (pass --data)", file=sys.stderr)
        return 2
    print(json.dumps(run_checkout_bench(data, items=args.items, seed=args.seed), indent=2))
    return 0


def _bench_ingest(args: argparse.Namespace) -> int:
    from smartstore.bench.ingest import run_ingest_bench

    result = run_ingest_bench(
        db=args.db,
        workers=args.workers,
        events=args.events,
        database_url=args.database_url,
        batch_size=args.batch_size,
        rate=args.rate,
        dup_ratio=args.dup_ratio,
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 and not result["worker_errors"] else 1


def _bench_chaos(args: argparse.Namespace) -> int:
    import random
    import shutil
    import tempfile

    from smartstore.testing.chaos import DEFAULT_PG_URL, run_chaos

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    url = None if args.db == "sqlite" else (args.database_url or DEFAULT_PG_URL)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="smartstore-chaos-"))
    try:
        result = run_chaos(
            faults=args.faults,
            seed=seed,
            database_url=url,
            workdir=workdir,
            session_expiry_s=args.session_expiry_s,
            progress=lambda message: print(f"chaos: {message}", file=sys.stderr, flush=True),
        )
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    ok = result["drained"] and result["lost"] == 0 and not any(result["duplicated_effects"].values())
    return 0 if ok else 1


def _bench_outbox(args: argparse.Namespace) -> int:
    from smartstore.bench.outbox import run_outbox_bench

    print(json.dumps(run_outbox_bench(events=args.events), indent=2))
    return 0


def _bench_devices(args: argparse.Namespace) -> int:
    from smartstore.bench.devices import run

    print(json.dumps(run(args.trials, lambda message: print(f"bench: {message}", file=sys.stderr)), indent=2))
    return 0


def _bench_model(args: argparse.Namespace) -> int:
    from smartstore.bench.model import bench

    report = bench(args.model, iterations=args.iterations, threads=args.threads, data_dir=args.data)
    print(json.dumps(report, indent=2))
    return 0
