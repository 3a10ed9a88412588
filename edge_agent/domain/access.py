"""Decide whether a member code opens the door: signatures, replay, revocation and store policy.

The order of checks matters: a code is only looked up in the replay cache after both of its
signatures verify (so forged codes cannot fill the cache), and it is only added to the cache
when it actually opens the door (so a shopper refused for a full store can try again).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from contracts.member_code import WINDOW_S, CodeRefused, MemberPass, decode_code, verify_code
from contracts.messages import DenyReason, Mode


@dataclass(frozen=True)
class TimeRange:
    """A daily local-time range; ``end`` before ``start`` wraps past midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """Parse ``HH:MM-HH:MM``; an end of ``24:00`` means midnight."""
        try:
            a, b = (part.strip() for part in text.split("-"))
            return cls(time.fromisoformat(a), time(0, 0) if b == "24:00" else time.fromisoformat(b))
        except ValueError as err:
            raise ValueError(f"time range must look like 22:00-07:00, got {text!r}") from err

    def contains(self, t: time) -> bool:
        """Return whether local time ``t`` is inside the range."""
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True)
class AccessPolicy:
    """A store's night-entry rules."""

    timezone: str = "UTC"
    # Night hours each tier may enter; a tier not listed uses "*"; no "*" means always.
    tier_hours: Mapping[str, tuple[TimeRange, ...]] = field(default_factory=dict)
    occupancy_cap: int = 4

    def local_time(self, unix_s: float) -> time:
        """Return the store's local wall time."""
        return datetime.fromtimestamp(unix_s, ZoneInfo(self.timezone)).time()

    def hours_allow(self, tier: str, unix_s: float) -> bool:
        """Return whether ``tier`` may enter at ``unix_s``."""
        ranges = self.tier_hours.get(tier, self.tier_hours.get("*"))
        if ranges is None:
            return True
        now = self.local_time(unix_s)
        return any(r.contains(now) for r in ranges)


class ReplayCache:
    """Remember codes that opened the door until they could no longer verify."""

    def __init__(self, ttl_s: float = 3 * WINDOW_S + 5, max_entries: int = 50_000) -> None:
        """Keep fingerprints for ``ttl_s`` (longer than a code's ±1 window life)."""
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def _purge(self, mono: float) -> None:
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry > mono and len(self._seen) <= self.max_entries:
                return
            del self._seen[key]

    def seen(self, fingerprint: bytes, mono: float) -> bool:
        """Return whether the code was already used."""
        self._purge(mono)
        return fingerprint in self._seen

    def add(self, fingerprint: bytes, mono: float) -> None:
        """Record a used code."""
        self._seen[fingerprint] = mono + self.ttl_s
        self._purge(mono)

    def __len__(self) -> int:
        """Return how many codes are remembered."""
        return len(self._seen)


@dataclass
class Revocations:
    """Members and phone keys the cloud revoked, with the list's version."""

    member_ids: set[str] = field(default_factory=set)
    phone_keys: set[bytes] = field(default_factory=set)
    version: int = 0

    def replace(self, member_ids: Iterable[str], phone_keys: Iterable[bytes] = (), version: int = 0) -> None:
        """Install a newer list (older versions are ignored)."""
        if version < self.version:
            return
        self.member_ids = set(member_ids)
        self.phone_keys = set(phone_keys)
        self.version = version

    def revoked(self, p: MemberPass) -> bool:
        """Return whether the pass's member or phone key is revoked."""
        return p.member_id in self.member_ids or p.phone_key in self.phone_keys


@dataclass(frozen=True)
class AccessDecision:
    """The answer to one presented code."""

    granted: bool
    reason: DenyReason | None = None
    member_id: str | None = None
    tier: str | None = None
    detail: str = ""
    fingerprint: bytes = b""
    window_offset: int | None = None  # a well-signed code refused for its time window: windows off


class AccessVerifier:
    """Verify member codes offline for one store."""

    def __init__(
        self,
        store_id: str,
        trusted_keys: Mapping[bytes, bytes],
        policy: AccessPolicy,
        *,
        revocations: Revocations | None = None,
        replay: ReplayCache | None = None,
    ) -> None:
        """Trust ``trusted_keys`` (kid → raw Ed25519 public key) for passes."""
        self.store_id = store_id
        self.trusted_keys = dict(trusted_keys)
        self.policy = policy
        self.revocations = revocations or Revocations()
        self.replay = replay or ReplayCache()

    def check(self, text: str | bytes, *, now: float, mono: float, mode: Mode, occupancy: int) -> AccessDecision:
        """Decide on a code without recording it; call ``commit`` if the door opens."""
        member_id: str | None = None
        try:
            code = decode_code(text)
            member_id = code.member_pass.member_id
            p = verify_code(code, trusted_keys=self.trusted_keys, store_id=self.store_id, now=now)
        except CodeRefused as refused:
            member = refused.member_id or member_id
            return AccessDecision(
                False, refused.reason, member, detail=refused.detail, window_offset=refused.window_offset
            )
        deny = self._policy_refusal(code.fingerprint, p, now=now, mono=mono, mode=mode, occupancy=occupancy)
        if deny is not None:
            return AccessDecision(False, deny[0], p.member_id, p.tier, deny[1], code.fingerprint)
        return AccessDecision(True, None, p.member_id, p.tier, fingerprint=code.fingerprint)

    def _policy_refusal(
        self, fingerprint: bytes, p: MemberPass, *, now: float, mono: float, mode: Mode, occupancy: int
    ) -> tuple[DenyReason, str] | None:
        if self.revocations.revoked(p):
            return DenyReason.REVOKED, f"revocation list v{self.revocations.version}"
        if self.replay.seen(fingerprint, mono):
            return DenyReason.REPLAYED, "this code was already used; show the fresh one"
        if mode is Mode.NIGHT:
            if not self.policy.hours_allow(p.tier, now):
                return DenyReason.OUTSIDE_HOURS, f"tier {p.tier!r} may not enter now"
            if occupancy >= self.policy.occupancy_cap:
                return DenyReason.OCCUPANCY_FULL, f"{occupancy} of {self.policy.occupancy_cap} inside"
        return None

    def commit(self, decision: AccessDecision, mono: float) -> None:
        """Record a granted code so it never opens the door again."""
        if decision.granted and decision.fingerprint:
            self.replay.add(decision.fingerprint, mono)
