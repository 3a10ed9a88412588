"""The sales journal keeps only what the ledger needs and goes once acknowledged; the data dir is private."""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

from contracts.messages import SaleCompleted, SaleLine
from edge_agent.adapters.journal import SalesJournal
from edge_agent.adapters.private import loose_permissions, private_dir, write_private
from edge_agent.config import AgentSettings
from edge_agent.domain.catalog import Coupon
from edge_agent.domain.payment import PaymentConfig, PaymentLedger
from edge_agent.preflight import _check_permissions
from tests.edge_agent.helpers import STORE, T0

NIGHT = datetime.fromtimestamp(T0, UTC)


def _sale(mode: str, total: int = 500, coupons: tuple[str, ...] = (), at: datetime = NIGHT) -> SaleCompleted:
    return SaleCompleted(
        store_id=STORE,
        ts=at,
        sale_id=uuid.uuid4(),
        station_id="co1",
        member_id="m-1",
        lines=[SaleLine(product_id="milk", name="Milk 1 l", quantity=1, unit_price_cents=total, total_cents=total)],
        subtotal_cents=total,
        total_cents=total,
        coupon_ids=list(coupons),
        payment_mode=mode,  # type: ignore[arg-type]
        authorization_id="auth-1" if mode == "online" else None,
    )


def _coupon(cid: str) -> Coupon:
    return Coupon(id=cid, member_id="m-1", kind="amount", value=100)  # type: ignore[call-arg]


def test_a_journal_line_holds_no_items_station_or_authorisation(tmp_path: Path) -> None:
    journal = SalesJournal(tmp_path / "sales.jsonl")
    journal.append(_sale("online"))
    (line,) = (tmp_path / "sales.jsonl").read_text().splitlines()
    fields = {"sale_id", "event_id", "member_id", "total_cents", "payment_mode", "at", "coupon_ids"}
    assert set(json.loads(line)) == fields
    assert "Milk" not in line and "auth-1" not in line and "co1" not in line
    assert stat.S_IMODE(os.stat(tmp_path / "sales.jsonl").st_mode) == 0o600


def test_acknowledged_sales_leave_the_journal_unless_the_ledger_still_needs_them(tmp_path: Path) -> None:
    path = tmp_path / "sales.jsonl"
    ledger = PaymentLedger(PaymentConfig(floor_limit_cents=1000), coupons=[_coupon("c-live")])
    journal = SalesJournal(path)
    online, offline, waiting = _sale("online"), _sale("offline", 400), _sale("online")
    with_coupon, spent_coupon = _sale("online", coupons=("c-live",)), _sale("online", coupons=("c-gone",))
    for s in (online, offline, waiting, with_coupon, spent_coupon):
        journal.append(s)
        ledger.record_sale(s)
    pending = {str(waiting.event_id)}  # the cloud acknowledged all the others

    assert journal.prune(ledger, lambda ids: pending & set(ids), now=T0 + 60) == 2
    kept = {r.sale_id for r in journal.records()}
    assert kept == {offline.sale_id, waiting.sale_id, with_coupon.sale_id}

    restarted = PaymentLedger(PaymentConfig(floor_limit_cents=1000))
    assert SalesJournal(path).replay(restarted) == 3
    assert restarted.offline_spent("m-1", T0 + 60) == 400  # the floor limit survives the restart
    assert restarted.redeemed("c-live")

    pending.clear()
    ledger.replace_coupons([])  # the cloud's delta removed the redeemed coupon
    assert journal.prune(ledger, lambda ids: pending & set(ids), now=T0 + 24 * 3600) == 3  # and the night ended
    assert path.read_text() == ""


def test_an_older_journal_of_whole_events_is_read_and_rewritten_short(tmp_path: Path) -> None:
    path = tmp_path / "sales.jsonl"
    old = _sale("offline", 300)
    path.write_bytes(old.model_dump_json().encode() + b"\n" + b"{damaged\n")
    os.chmod(path, 0o644)
    journal = SalesJournal(path)
    ledger = PaymentLedger()
    assert journal.replay(ledger) == 1
    assert ledger.offline_spent("m-1", T0) == 300
    assert journal.prune(ledger, lambda ids: set(ids), now=T0) == 0  # nothing acknowledged yet
    (line,) = path.read_text().splitlines()
    assert "lines" not in json.loads(line) and json.loads(line)["sale_id"] == str(old.sale_id)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_start_up_narrows_the_data_dir_and_agent_check_names_each_wide_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # whatever the umask
    (data / "outbox.db").write_bytes(b"")
    os.chmod(data / "outbox.db", 0o644)
    write_private(data / "synced.json", b"{}")
    settings = AgentSettings.model_validate(
        {
            "store_id": STORE,
            "data_dir": str(data),
            "issuer_keys_file": str(tmp_path / "k.json"),
            "lock": {"type": "lcus", "url": "x"},
        }
    )
    checks = _check_permissions(settings)
    assert [c.ok for c in checks] == [False, False]
    assert [c.detail.split()[0] for c in checks] == [str(data), str(data / "outbox.db")]
    assert "mode 0644, wider than 0600: run chmod 600" in checks[1].detail
    assert loose_permissions(data) == [c.detail for c in checks]

    private_dir(data)  # what the agent does at start-up
    assert loose_permissions(data) == []
    assert [(c.ok, c.detail) for c in _check_permissions(settings)] == [(True, f"{data} is 0700 and its files 0600")]


def test_an_acknowledged_event_leaves_no_bytes_in_the_outbox_file(tmp_path: Path) -> None:
    """Debian's SQLite deletes securely by default; the outbox asks for it on any build."""
    from contracts.messages import AccessDenied, DenyReason
    from edge_agent.adapters.outbox import Outbox

    box = Outbox(tmp_path / "outbox.db")
    marker = "member-with-a-memorable-id"
    stored = [
        box.append(AccessDenied(store_id=STORE, door_id="main", reason=DenyReason.EXPIRED, detail=detail), "t")
        for detail in ("before", marker, "after")  # still waiting: the page lives on with the others
    ]
    box.acknowledge([str(stored[1].event_id)])
    box.close()  # an orderly stop folds the WAL into the database
    leftovers = [p.name for p in tmp_path.iterdir() if marker.encode() in p.read_bytes()]
    assert leftovers == []
