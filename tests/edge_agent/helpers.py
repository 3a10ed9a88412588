"""Test helpers for the door domain: a settable clock and a member-code factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.member_code import IssuerKey, PhoneKey
from edge_agent.domain.access import AccessPolicy, AccessVerifier
from edge_agent.domain.door import DoorConfig, DoorController

STORE = "store-1"
T0 = 1_790_000_000.0  # a fixed wall-clock instant (2026-09-21 13:33 UTC)


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    wall: float = T0
    mono: float = 1000.0

    def time(self) -> float:
        """Return the fake wall time."""
        return self.wall

    def monotonic(self) -> float:
        """Return the fake monotonic time."""
        return self.mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.wall += seconds
        self.mono += seconds


@dataclass
class Members:
    """An issuer and phones: makes real signed codes."""

    issuer: IssuerKey = field(default_factory=IssuerKey.generate)
    phones: dict[str, tuple[PhoneKey, bytes]] = field(default_factory=dict)

    @property
    def trusted(self) -> dict[bytes, bytes]:
        """Return the issuer key set a store trusts."""
        return {self.issuer.kid: self.issuer.public_raw}

    def code(self, member: str, now: float, *, tier: str = "standard", store: str = STORE, valid_s: int = 3600) -> str:
        """Return a fresh code of ``member`` for ``store`` at ``now``."""
        if member not in self.phones:
            phone = PhoneKey.generate()
            signed = self.issuer.issue_pass(
                member_id=member, tier=tier, phone_key=phone.public_raw, now=now - 60, valid_s=valid_s
            )
            self.phones[member] = (phone, signed)
        phone, signed = self.phones[member]
        return phone.show_code(signed, store_id=store, now=now)


def make_controller(
    members: Members | None = None, clock: FakeClock | None = None, policy: AccessPolicy | None = None, **config: object
) -> tuple[DoorController, Members, FakeClock]:
    """Build a started controller."""
    members = members or Members()
    clock = clock or FakeClock()
    verifier = AccessVerifier(STORE, members.trusted, policy or AccessPolicy(occupancy_cap=2))
    ctl = DoorController(DoorConfig(store_id=STORE, **config), verifier, clock)  # type: ignore[arg-type]
    ctl.start()
    return ctl, members, clock
