"""The self-checkout station: a pure state machine for one checkout (h11-style transition table).

Modules: ``session`` (states, transition table, basket data), ``inputs``, ``outputs``, ``core``
(station state and shared helpers), ``weighing`` (basket and weights), ``paying`` (payment) and
``station`` (the :class:`CheckoutStation` itself). The public names are re-exported here.

A shopper scans their member code, puts items one by one on the scale, answers the screen when
the station is unsure, and pays from their member account, online or, while the cloud is
unreachable, offline within a per-night floor limit (see docs/checkout.md).

Inputs come in through :meth:`CheckoutStation.handle` with the clock injected; actions come out
(ask the camera for evidence, ask the cloud to authorise a payment, draw the screen, emit an
event). Nothing here does I/O or sleeps: timeouts run on :class:`StationTick`.

Session states (every change lives in ``session.TRANSITIONS``)::

    idle --member code--> shopping --pay--> payment --online--> authorizing --approved--> receipt
                           ^   |              |  ^                  | declined / timeout
                           |   +--abandon-----+  +------------------+ (timeout: offline rule)
                           +--basket changed--+                       receipt --time--> idle

While *shopping*, every stable weight increase is an item: the station asks the adapters for
evidence (:class:`RequestEvidence`), fuses it with the weight (:func:`fusion.decide`) and accepts
it, asks the shopper, asks for a barcode scan, or holds the session for staff. A hold (an
unexplained item or an unexplained removal) blocks payment until staff resolve it or the item is
taken off again.
"""

from __future__ import annotations

from edge_agent.domain.checkout.core import (
    CheckoutSnapshot,
    StationConfig,
)
from edge_agent.domain.checkout.inputs import (
    Abandon,
    AuthorizationResult,
    CatalogUpdated,
    CheckoutInput,
    ConnectivityChanged,
    Evidence,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    PaySource,
    ScaleStatus,
    ShopperChose,
    StaffResolved,
    StationTick,
    VisionStatus,
    WeightSettled,
)
from edge_agent.domain.checkout.outputs import (
    MESSAGES,
    AskShopper,
    RequestAuthorization,
    RequestEvidence,
    ShowBasket,
    ShowMessage,
    ShowReceipt,
    StationAction,
    ZeroScale,
)
from edge_agent.domain.checkout.session import (
    MAX_SALE_CENTS,
    OFFLINE_FALLBACK_REASONS,
    TRANSITIONS,
    SessionTrigger,
    State,
    next_session_state,
    sale_lines,
)
from edge_agent.domain.checkout.station import (
    CheckoutStation,
)

__all__ = [
    "MAX_SALE_CENTS",
    "MESSAGES",
    "OFFLINE_FALLBACK_REASONS",
    "TRANSITIONS",
    "Abandon",
    "AskShopper",
    "AuthorizationResult",
    "CatalogUpdated",
    "CheckoutInput",
    "CheckoutSnapshot",
    "CheckoutStation",
    "ConnectivityChanged",
    "Evidence",
    "ItemScanned",
    "MemberCodeScanned",
    "Pay",
    "PaySource",
    "RequestAuthorization",
    "RequestEvidence",
    "ScaleStatus",
    "SessionTrigger",
    "ShopperChose",
    "ShowBasket",
    "ShowMessage",
    "ShowReceipt",
    "StaffResolved",
    "State",
    "StationAction",
    "StationConfig",
    "StationTick",
    "VisionStatus",
    "WeightSettled",
    "ZeroScale",
    "next_session_state",
    "sale_lines",
]
