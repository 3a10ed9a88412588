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
from edge_agent.domain.ports import ReplayStore


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
    """Remember every code that was used anywhere in the store until it could no longer verify.

    One cache serves the door and every checkout station: a code fingerprint used once is used.
    Expiry is kept on both clocks. The code window is wall-clock time, so the wall expiry is the
    one that is persisted (``store``) and read back after a restart; while the agent runs, an entry
    is forgotten only once *both* its monotonic and its wall expiry have passed, so a wall clock
    stepped backwards (which would let an old code verify again) or forwards forgets nothing early.
    """

    def __init__(
        self,
        ttl_s: float = 3 * WINDOW_S + 5,
        max_entries: int = 50_000,
        *,
        store: ReplayStore | None = None,
        now: float = 0.0,
        mono: float = 0.0,
        prune_every_s: float = 60.0,
    ) -> None:
        """Keep fingerprints for ``ttl_s`` (longer than a code's ±1 window life), loading ``store``'s at ``now``."""
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.store = store
        self.prune_every_s = prune_every_s
        self._seen: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # fingerprint -> (mono, wall) expiry
        self._next_prune = mono + prune_every_s
        if store is not None:
            for fingerprint, expires_at in sorted(store.load(now).items(), key=lambda kv: kv[1]):
                left = min(max(expires_at - now, 0.0), ttl_s)  # a record from a clock far ahead is capped
                self._seen[fingerprint] = (mono + left, now + left)

    def _purge(self, now: float, mono: float) -> None:
        while self._seen:
            key, (mono_expiry, wall_expiry) = next(iter(self._seen.items()))
            if (mono_expiry > mono or wall_expiry > now) and len(self._seen) <= self.max_entries:
                return
            del self._seen[key]

    def seen(self, fingerprint: bytes, now: float, mono: float) -> bool:
        """Return whether the code was already used."""
        self._purge(now, mono)
        expiry = self._seen.get(fingerprint)
        return expiry is not None and (expiry[0] > mono or expiry[1] > now)

    def add(self, fingerprint: bytes, now: float, mono: float) -> None:
        """Record a used code (durably first, when there is a store)."""
        if self.store is not None:
            self.store.record(fingerprint, now + self.ttl_s)
        self._seen.pop(fingerprint, None)
        self._seen[fingerprint] = (mono + self.ttl_s, now + self.ttl_s)
        self._purge(now, mono)
        if self.store is not None and mono >= self._next_prune:
            self._next_prune = mono + self.prune_every_s
            self.store.prune(now)

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
    checked_at: float = 0.0  # the wall time it was checked at (a grant's replay record expires from it)


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
        self.replay = replay if replay is not None else ReplayCache()  # an empty cache is falsy (len 0)

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
            return AccessDecision(False, deny[0], p.member_id, p.tier, deny[1], code.fingerprint, checked_at=now)
        return AccessDecision(True, None, p.member_id, p.tier, fingerprint=code.fingerprint, checked_at=now)

    def _policy_refusal(
        self, fingerprint: bytes, p: MemberPass, *, now: float, mono: float, mode: Mode, occupancy: int
    ) -> tuple[DenyReason, str] | None:
        if self.revocations.revoked(p):
            return DenyReason.REVOKED, f"revocation list v{self.revocations.version}"
        if self.replay.seen(fingerprint, now, mono):
            return DenyReason.REPLAYED, "this code was already used; show the fresh one"
        if mode is Mode.NIGHT:
            if not self.policy.hours_allow(p.tier, now):
                return DenyReason.OUTSIDE_HOURS, f"tier {p.tier!r} may not enter now"
            if occupancy >= self.policy.occupancy_cap:
                return DenyReason.OCCUPANCY_FULL, f"{occupancy} of {self.policy.occupancy_cap} inside"
        return None

    def commit(self, decision: AccessDecision, mono: float) -> None:
        """Record a granted code so it never opens the door (or a checkout session) again."""
        if decision.granted and decision.fingerprint:
            self.replay.add(decision.fingerprint, decision.checked_at, mono)
