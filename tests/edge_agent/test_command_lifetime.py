"""Commands: bounded lifetime from issued_at, no future issued_at, once per id in SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.messages import UnlockCommand
from edge_agent.adapters.command_log import CommandLog
from edge_agent.domain.commands import check_lifetime, keep_until
from edge_agent.domain.door import CommandReceived
from tests.edge_agent.helpers import make_controller

NOW = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)


def _unlock(issued: timedelta, expires: timedelta) -> UnlockCommand:
    return UnlockCommand(correlation_id="c", issued_at=NOW + issued, expires_at=NOW + expires)


def test_a_command_lives_at_most_its_lifetime_from_issued_at() -> None:
    assert check_lifetime(_unlock(timedelta(seconds=-5), timedelta(seconds=30)), NOW, 120, 30) is None
    stale = check_lifetime(_unlock(timedelta(days=-30), timedelta(days=365)), NOW, 120, 30)
    assert stale is not None and stale[0] == "expired" and "lifetime cap" in stale[1]
    assert check_lifetime(_unlock(timedelta(seconds=-121), timedelta(days=1)), NOW, 120, 30) is not None
    assert check_lifetime(_unlock(timedelta(seconds=-60), timedelta(seconds=-1)), NOW, 120, 30) is not None


def test_issued_at_in_the_future_beyond_the_skew_is_refused() -> None:
    assert check_lifetime(_unlock(timedelta(seconds=25), timedelta(seconds=60)), NOW, 120, 30) is None
    future = check_lifetime(_unlock(timedelta(minutes=10), timedelta(minutes=11)), NOW, 120, 30)
    assert future is not None and future[0] == "rejected" and "future" in future[1]


def test_the_door_refuses_a_year_long_command_issued_a_month_ago() -> None:
    ctl, _, clock = make_controller()
    now = datetime.fromtimestamp(clock.time(), UTC)
    cmd = UnlockCommand(correlation_id="old", issued_at=now - timedelta(days=30), expires_at=now + timedelta(days=365))
    actions = ctl.handle(CommandReceived(cmd))
    replies = [a.reply for a in actions if hasattr(a, "reply")]
    assert [r.status for r in replies] == ["expired"] and "lifetime cap" in (replies[0].error or "")
    assert ctl.lock.value == "locked"


def test_the_command_log_claims_an_id_once_and_survives_reopening(tmp_path: Path) -> None:
    issued = datetime.now(UTC)  # the log prunes against the real clock when it is opened
    cmd = UnlockCommand(correlation_id="c", issued_at=issued, expires_at=issued + timedelta(hours=1))
    until = keep_until(cmd, 3600, 30).timestamp()
    assert until >= (issued + timedelta(hours=2)).timestamp()
    log = CommandLog(tmp_path / "commands.db")
    assert log.claim("c", "unlock", until)
    assert not log.claim("c", "unlock", until)
    log.record_reply("c", b'{"status":"ok"}')
    log.close()
    again = CommandLog(tmp_path / "commands.db")
    assert not again.claim("c", "unlock", until)
    assert again.reply_of("c") == b'{"status":"ok"}'
    assert again.prune(now=until + 1) == 1 and len(again) == 0
    again.close()
