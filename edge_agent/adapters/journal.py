"""The sales journal: what the payment ledger needs to survive a restart, and nothing more.

A JSON line per sale holds a :class:`~edge_agent.domain.payment.SaleRecord` (sale and event id,
member id, total, payment mode, time, coupon ids): no items, no station, no authorisation id.
The full sale travels to the cloud in the outbox. :meth:`SalesJournal.prune` rewrites the file
without the records the ledger no longer needs (``PaymentLedger.still_needs``), which starts
with the cloud having acknowledged the sale's event (its outbox row is gone). The file is 0600.
Lines in the older format (a whole ``sale_completed`` event) are read too, and pruning rewrites
them in the short form.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from contracts.messages import SaleCompleted
from edge_agent.adapters.private import FILE_MODE, write_private
from edge_agent.domain.payment import PaymentLedger, SaleRecord

log = logging.getLogger(__name__)


def encode_record(r: SaleRecord) -> bytes:
    """Return the journal line of ``r`` (without its newline)."""
    return json.dumps(
        {
            "sale_id": str(r.sale_id),
            "event_id": str(r.event_id),
            "member_id": r.member_id,
            "total_cents": r.total_cents,
            "payment_mode": r.payment_mode,
            "at": r.at,
            "coupon_ids": list(r.coupon_ids),
        },
        separators=(",", ":"),
    ).encode()


def decode_record(line: bytes) -> SaleRecord:
    """Parse a journal line of either format; raise ``ValueError`` if it is damaged."""
    data: Any = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "lines" in data:  # an older journal kept the whole event
        return SaleRecord.of(SaleCompleted.model_validate(data))
    try:
        return SaleRecord(
            uuid.UUID(str(data["sale_id"])),
            uuid.UUID(str(data["event_id"])),
            str(data["member_id"]),
            int(data["total_cents"]),
            str(data["payment_mode"]),
            float(data["at"]),
            tuple(str(c) for c in data.get("coupon_ids", ())),
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"incomplete sale record: {err}") from err


class SalesJournal:
    """An append-only, fsynced local record of sales (offline limits survive a restart), pruned."""

    def __init__(self, path: Path) -> None:
        """Use the JSON-lines file at ``path``."""
        self.path = path
        self._lock = threading.Lock()
        self._records: list[SaleRecord] = []
        self._rewrite = False  # the file holds lines in the old format or damaged ones

    def append(self, sale: SaleCompleted) -> None:
        """Record one sale durably."""
        record = SaleRecord.of(sale)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.write(fd, encode_record(record) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self._records.append(record)

    def replay(self, ledger: PaymentLedger) -> int:
        """Feed every recorded sale to ``ledger``; return how many were read."""
        records: list[SaleRecord] = []
        try:
            with open(self.path, "rb") as fh:
                for line in fh:
                    try:
                        record = decode_record(line)
                    except ValueError:
                        log.warning("skipping a damaged line in %s", self.path)
                        self._rewrite = True
                        continue
                    self._rewrite = self._rewrite or b'"lines"' in line
                    records.append(record)
                    ledger.record_sale(record)
        except FileNotFoundError:
            return 0
        with self._lock:
            self._records = records + self._records
        return len(records)

    def records(self) -> list[SaleRecord]:
        """Return the records kept, oldest first."""
        with self._lock:
            return list(self._records)

    def prune(self, ledger: PaymentLedger, pending: Callable[[Sequence[str]], set[str]], now: float) -> int:
        """Drop the records ``ledger`` no longer needs; ``pending`` names the sale events not yet acknowledged."""
        with self._lock:
            waiting = pending([str(r.event_id) for r in self._records]) if self._records else set()
            keep = [
                r for r in self._records if ledger.still_needs(r, acknowledged=str(r.event_id) not in waiting, now=now)
            ]
            dropped = len(self._records) - len(keep)
            if dropped or self._rewrite:
                write_private(self.path, b"".join(encode_record(r) + b"\n" for r in keep))
                self._records, self._rewrite = keep, False
        if dropped:
            log.info("sales journal: dropped %d sales the cloud acknowledged, %d kept", dropped, len(keep))
        return dropped
