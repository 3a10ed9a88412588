"""Staff credentials, pure: hashes, schedules, the door's staff entries and the synced staff channel."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from contracts.messages import AccessDenied, AccessGranted, DenyReason, DoorOpened, LockdownCommand
from contracts.staff import StaffEntry, credential_hash, new_secret
from contracts.sync import StaffDelta, StaffList, parse_delta, parse_snapshot
from edge_agent.domain.actions import Emit, Feedback
from edge_agent.domain.door import CodePresented, CommandReceived, DoorSensor, SetLock
from edge_agent.domain.staff import CredentialPresented, StaffDirectory
from edge_agent.domain.synced import Applied, SyncedData
from tests.edge_agent.helpers import STORE, make_controller

CARD, PIN = "12:34567", "4711"


def staff(sid: str = "s-1", role: str = "restocker", hours: list[str] | None = None, store: str = STORE) -> StaffEntry:
    return StaffEntry(
        id=sid,
        store_id=store,
        role=role,
        hours=hours or [],
        secrets=[new_secret(store, "card", CARD), new_secret(store, "pin", PIN)],
    )


def emitted(actions: Sequence[object], cls: type) -> list:
    return [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, cls)]


def test_a_credential_is_stored_only_as_a_salted_hash_bound_to_store_and_kind() -> None:
    one, two = new_secret(STORE, "card", CARD), new_secret(STORE, "card", CARD)
    wire = json.dumps([one.model_dump(mode="json"), two.model_dump(mode="json")])
    assert "34567" not in wire
    assert one.hash != two.hash  # a fresh salt each time
    assert one.matches(STORE, "card", CARD)
    assert not one.matches(STORE, "card", "12:34568")
    assert not one.matches("store-2", "card", CARD)  # a hash copied to another store matches nothing
    assert not one.matches(STORE, "pin", CARD)
    assert credential_hash("store-2", "card", CARD, one.salt) != one.hash


def test_bad_card_and_pin_shapes_are_refused_when_issued() -> None:
    with pytest.raises(ValueError, match="facility:card"):
        new_secret(STORE, "card", "34567")
    with pytest.raises(ValueError, match="4 to 8 digits"):
        new_secret(STORE, "pin", "12")


def test_the_directory_keeps_its_own_store_and_checks_the_schedule_in_the_store_zone() -> None:
    from edge_agent.domain.access import AccessPolicy

    directory = StaffDirectory(STORE, AccessPolicy(timezone="Europe/Berlin"))
    directory.replace([staff("s-1", hours=["16:00-17:00"]), staff("s-x", store="store-2")], 3)
    assert len(directory) == 1
    t0 = 1_790_000_000.0  # 14:13 UTC = 16:13 in Berlin (summer time)
    granted = directory.check(CredentialPresented("card", CARD), t0)
    assert (granted.granted, granted.staff_id, granted.role) == (True, "s-1", "restocker")
    late = directory.check(CredentialPresented("pin", PIN), t0 + 3600)
    assert (late.granted, late.reason) == (False, DenyReason.OUTSIDE_HOURS)
    assert "16:00-17:00" in late.detail and "17:13" in late.detail
    unknown = directory.check(CredentialPresented("card", "1:1"), t0)
    assert (unknown.granted, unknown.reason) == (False, DenyReason.UNKNOWN_CREDENTIAL)
    assert not directory.manager(CredentialPresented("card", CARD), t0).granted  # a restocker resolves nothing


def test_a_staff_entry_opens_the_door_without_counting_as_a_shopper() -> None:
    ctl, members, clock = make_controller()
    ctl.staff.replace([staff()], 1)
    actions = ctl.handle(CredentialPresented("card", CARD, reader="reader-1"))
    assert next(a for a in actions if isinstance(a, SetLock)).energised
    granted = emitted(actions, AccessGranted)
    assert [(g.via, g.staff_id, g.staff_role, g.member_id) for g in granted] == [("staff", "s-1", "restocker", None)]
    ctl.handle(DoorSensor(False))
    clock.advance(0.5)
    opened = emitted(ctl.handle(DoorSensor(True)), DoorOpened)
    assert [o.cause for o in opened] == ["grant"]
    assert ctl.occupancy == 0
    ctl.handle(DoorSensor(False))
    # a shopper after the staff member still counts
    ctl.handle(CodePresented(members.code("m-1", clock.time())))
    clock.advance(0.5)
    ctl.handle(DoorSensor(True))
    assert ctl.occupancy == 1


def test_unknown_revoked_and_lockdown_staff_credentials_are_refused() -> None:
    ctl, _, clock = make_controller()
    ctl.staff.replace([staff()], 1)
    denied = ctl.handle(CredentialPresented("pin", "0000"))
    assert [d.reason for d in emitted(denied, AccessDenied)] == [DenyReason.UNKNOWN_CREDENTIAL]
    assert [f.granted for f in denied if isinstance(f, Feedback)] == [False]
    assert not [a for a in denied if isinstance(a, SetLock)]
    ctl.staff.replace([], 2)  # revoked in the cloud, synced
    gone = emitted(ctl.handle(CredentialPresented("card", CARD)), AccessDenied)
    assert [d.reason for d in gone] == [DenyReason.UNKNOWN_CREDENTIAL]
    assert "staff list v2" in gone[0].detail
    ctl.staff.replace([staff()], 3)
    from datetime import UTC, datetime, timedelta

    now = datetime.fromtimestamp(clock.time(), UTC)
    lockdown = LockdownCommand(correlation_id="c1", active=True, issued_at=now, expires_at=now + timedelta(seconds=30))
    ctl.handle(CommandReceived(lockdown))
    locked = emitted(ctl.handle(CredentialPresented("card", CARD)), AccessDenied)
    assert [d.reason for d in locked] == [DenyReason.LOCKDOWN]


def test_the_staff_channel_applies_snapshots_and_deltas_and_survives_a_restart() -> None:
    data = SyncedData()
    snap = parse_snapshot("staff", StaffList(version=2, staff=[staff("s-1"), staff("s-2")]).model_dump_json())
    assert data.apply(snap, snapshot=True) == Applied("staff", 2)
    revoke = parse_delta("staff", StaffDelta(from_version=2, version=3, remove_ids=["s-1"]).model_dump_json())
    assert data.apply(revoke, snapshot=False) == Applied("staff", 3)
    assert set(data.staff) == {"s-2"}
    gap = StaffDelta(from_version=5, version=6, upsert=[staff("s-9")])
    assert data.apply(gap, snapshot=False) is None and "staff" in data.stale
    again = SyncedData.from_json(json.loads(json.dumps(data.to_json())))
    assert set(again.staff) == {"s-2"} and again.versions["staff"] == 3
    assert again.staff["s-2"].secrets[0].matches(STORE, "card", CARD)


def test_with_a_passage_sensor_a_staff_entry_is_no_tailgater_and_no_shopper() -> None:
    from contracts.messages import AlarmKind, AlarmRaised
    from edge_agent.domain.passages import PassageSensed

    ctl, _, clock = make_controller(passage_sensor="pair")
    ctl.staff.replace([staff()], 1)
    ctl.handle(DoorSensor(False))
    ctl.handle(CredentialPresented("card", CARD))
    clock.advance(0.3)
    ctl.handle(DoorSensor(True))
    alone = ctl.handle(PassageSensed("in"))
    assert not [e for e in emitted(alone, AlarmRaised) if e.alarm is AlarmKind.TAILGATING]
    assert ctl.occupancy == 0
    follower = ctl.handle(PassageSensed("in"))  # someone slips in behind the restocker
    assert [e.alarm for e in emitted(follower, AlarmRaised)] == [AlarmKind.TAILGATING]
    assert ctl.occupancy == 1 and ctl.passages.unidentified == 1
