"""The store's replay cache remembers used codes on both clocks and across restarts (issue 12, hole 3)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from contracts.messages import DenyReason, Mode
from edge_agent.adapters.replay import SqliteReplayStore
from edge_agent.domain.access import AccessPolicy, AccessVerifier, ReplayCache
from tests.edge_agent.helpers import STORE, T0, Members

FP = b"\x01" * 16


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[bytes, float] = {}
        self.pruned: list[float] = []

    def load(self, now: float) -> dict[bytes, float]:
        return {fp: exp for fp, exp in self.rows.items() if exp > now}

    def record(self, fingerprint: bytes, expires_at: float) -> None:
        self.rows[fingerprint] = expires_at

    def prune(self, now: float) -> None:
        self.pruned.append(now)
        self.rows = {fp: exp for fp, exp in self.rows.items() if exp > now}


def test_a_used_code_is_written_before_it_counts_and_read_back_by_a_new_cache() -> None:
    store = MemoryStore()
    cache = ReplayCache(ttl_s=50, store=store, now=T0, mono=10)
    cache.add(FP, T0, 10)
    assert store.rows == {FP: T0 + 50}
    restarted = ReplayCache(ttl_s=50, store=store, now=T0 + 5, mono=3)  # a new process: monotonic restarts
    assert restarted.seen(FP, T0 + 5, 3)
    assert restarted.seen(FP, T0 + 49, 47)
    assert not restarted.seen(FP, T0 + 51, 49)


def test_a_wall_clock_stepped_back_or_forward_forgets_nothing_early() -> None:
    cache = ReplayCache(ttl_s=50)
    cache.add(FP, T0, 10)
    assert cache.seen(FP, T0 - 3600, 20)  # stepped back an hour: the old code could verify again
    assert cache.seen(FP, T0 + 3600, 30)  # stepped forward: the monotonic expiry still holds it
    assert cache.seen(FP, T0 - 3600, 100)  # monotonic expired, but the wall expiry is still ahead
    assert not cache.seen(FP, T0 + 51, 61)  # both passed


def test_a_record_from_a_clock_far_ahead_is_kept_no_longer_than_a_code_lives() -> None:
    store = MemoryStore()
    store.rows[FP] = T0 + 10 * 3600
    cache = ReplayCache(ttl_s=50, store=store, now=T0, mono=0)
    assert cache.seen(FP, T0 + 49, 49)
    assert not cache.seen(FP, T0 + 51, 51)


def test_expired_records_are_pruned_from_the_store_as_codes_are_used() -> None:
    store = MemoryStore()
    cache = ReplayCache(ttl_s=50, store=store, now=T0, mono=0, prune_every_s=60)
    cache.add(FP, T0, 0)
    cache.add(b"\x02" * 16, T0 + 61, 61)
    assert store.pruned == [T0 + 61]
    assert set(store.rows) == {b"\x02" * 16}


def test_one_cache_for_two_readers_refuses_a_code_used_at_either() -> None:
    members = Members()
    cache = ReplayCache()
    door = AccessVerifier(STORE, members.trusted, AccessPolicy(), replay=cache)
    checkout = AccessVerifier(STORE, members.trusted, AccessPolicy(), replay=cache)
    code = members.code("m-1", T0)
    granted = door.check(code, now=T0, mono=5, mode=Mode.DAY, occupancy=0)
    assert granted.granted
    door.commit(granted, 5)
    assert checkout.check(code, now=T0 + 1, mono=6, mode=Mode.DAY, occupancy=0).reason is DenyReason.REPLAYED


def test_sqlite_store_survives_reopening_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    store = SqliteReplayStore(path)
    store.record(FP, T0 + 50)
    store.record(FP, T0 + 40)  # a second record never shortens the first
    store.record(b"\x02" * 16, T0 - 1)
    store.close()  # what a kill -9 leaves is tested with a real agent (tests/edge_agent/test_store_data.py)
    reopened = SqliteReplayStore(path)
    assert reopened.load(T0) == {FP: T0 + 50}
    assert len(reopened) == 1  # load pruned the expired one
    for p in [path, *tmp_path.glob("replay.db-*")]:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    reopened.close()


def test_a_damaged_replay_db_is_moved_aside_and_the_store_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SqliteReplayStore(path)
    assert store.load(T0) == {}
    store.record(FP, T0 + 50)
    assert store.load(T0) == {FP: T0 + 50}
    store.close()
    assert [p.name.split("-")[0] for p in tmp_path.glob("replay.db.damaged-*")] == ["replay.db.damaged"]
