"""Build the self-checkout stations of a store from ``CheckoutSettings`` (part of the composition root)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from devices.driver import DriverThread
from devices.scanner.protocol import CodeScanned
from edge_agent import hardware
from edge_agent.adapters.checkout_io import (
    CheckoutIO,
    Payments,
    Screen,
    WeightTracker,
    coupon_from_sync,
    product_from_sync,
    promotion_from_sync,
)
from edge_agent.adapters.journal import SalesJournal
from edge_agent.adapters.review_frame import ReviewFrames
from edge_agent.adapters.station_keys import station_keypad
from edge_agent.adapters.vision import EvidenceProvider, LatestFrameCamera, Recognizer
from edge_agent.config import CheckoutSettings, StationSettings
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.barcodes import BarcodeScheme
from edge_agent.domain.catalog import Catalog, Coupon
from edge_agent.domain.checkout import CheckoutStation, ItemScanned, ScaleStatus, StationConfig, VisionStatus
from edge_agent.domain.fusion import FusionConfig
from edge_agent.domain.payment import PaymentConfig, PaymentLedger
from edge_agent.domain.ports import Clock
from edge_agent.domain.staff import CredentialPresented
from edge_agent.domain.synced import SyncedData

log = logging.getLogger(__name__)

DEFAULT_AUTO_ACCEPT = 0.9  # used only when no model is loaded (nothing is auto-accepted by vision then)


def catalog_from_sync(synced: SyncedData) -> tuple[Catalog, list[Coupon]]:
    """Build the checkout's catalog and coupon list from the synced downlink."""
    catalog = Catalog(
        (product_from_sync(p) for p in synced.products.values() if p.active),
        version=synced.versions.get("catalog", 0),
        promotions=[promotion_from_sync(p) for p in synced.promotions.values()],
    )
    return catalog, [coupon_from_sync(c) for c in synced.coupons.values()]


def load_recognizer(settings: CheckoutSettings) -> Recognizer | None:
    """Load the product model, or None (barcode-only checkout) if it is disabled or broken."""
    if settings.model is None:
        return None
    try:
        from models import ProductRecognizer

        if settings.model == "shipped":
            return ProductRecognizer.load()
        return ProductRecognizer.load(settings.model)
    except Exception as err:  # a missing model degrades the checkout, it must not stop the store
        log.error("product model unavailable (%s): checkout runs barcode-only", err)
        return None


@dataclass
class CheckoutParts:
    """What the checkout bootstrap built."""

    stations: dict[str, CheckoutStation]
    ledger: PaymentLedger
    journal: SalesJournal
    io: CheckoutIO | None = None
    drivers: list[DriverThread] = field(default_factory=list)
    cameras: list[LatestFrameCamera] = field(default_factory=list)
    evidence: EvidenceProvider | None = None
    recognizer: Recognizer | None = None
    review_frames: ReviewFrames | None = None  # the last frame of a station held for staff review


def build_stations(
    settings: CheckoutSettings,
    *,
    store_id: str,
    door_verifier: AccessVerifier,
    synced: SyncedData,
    clock: Clock,
    data_dir: Path,
    recognizer: Recognizer | None,
) -> CheckoutParts:
    """Build stations (pure parts) sharing one ledger, catalog and revocation list."""
    ledger = PaymentLedger(
        PaymentConfig(
            floor_limit_cents=settings.floor_limit_cents,
            night_reset_hour=settings.night_reset_hour,
            timezone=settings.timezone,
        )
    )
    journal = SalesJournal(data_dir / "sales.jsonl")
    replayed = journal.replay(ledger)
    if replayed:
        log.info("replayed %d sales into the payment ledger", replayed)
    catalog, coupons = catalog_from_sync(synced)
    ledger.replace_coupons(coupons)
    # The door's keys, revocations and replay cache: a code used at the door cannot open a session, and back.
    verifier = AccessVerifier(
        store_id,
        door_verifier.trusted_keys,
        door_verifier.policy,
        revocations=door_verifier.revocations,
        replay=door_verifier.replay,
    )
    threshold = settings.auto_accept_threshold
    if threshold is None:
        threshold = float(getattr(recognizer, "auto_accept_threshold", DEFAULT_AUTO_ACCEPT))
    labels = settings.barcodes
    fusion = FusionConfig(
        auto_accept_threshold=threshold,
        label_tolerance_g=labels.label_tolerance_g,
        label_tolerance_rel=labels.label_tolerance_rel,
        scheme=BarcodeScheme.from_patterns(
            label.to_pattern() if label.decimals is None else (label.to_pattern(), label.decimals)
            for label in labels.labels
        ),
    )
    stations = {}
    for s in settings.stations:
        if not s.pay_inputs():
            log.warning("checkout station %s has no way to confirm a payment (see docs/checkout.md)", s.station_id)
        stations[s.station_id] = CheckoutStation(
            station_config(s, store_id, fusion, settings.auth_timeout_s), verifier, catalog, ledger, clock
        )
    return CheckoutParts(stations, ledger, journal, recognizer=recognizer)


def station_config(s: StationSettings, store_id: str, fusion: FusionConfig, auth_timeout_s: float) -> StationConfig:
    """Return the pure station's settings from its TOML section."""
    return StationConfig(
        store_id=store_id,
        station_id=s.station_id,
        fusion=fusion,
        auth_timeout_s=auth_timeout_s,
        pay_codes=frozenset(s.pay_codes),
        cancel_codes=frozenset(s.cancel_codes),
        pay_by_member_code=s.pay_by_member_code,
        auto_zero_g=s.auto_zero_g,
        clear_timeout_s=s.clear_timeout_s,
    )


def wire_devices(
    parts: CheckoutParts,
    settings: CheckoutSettings,
    *,
    store_id: str,
    submit: Callable[[str, Any], None],
    publisher: Any,
    status: Callable[[str, str], Callable[[str, str, str], None]],
    reviews_dir: Path | None = None,
) -> None:
    """Create scale, screen, scanner, reader and camera adapters for every station (not started).

    With cameras and ``reviews_dir``, a station held for staff review keeps its last frame there.
    """
    screens: dict[str, Screen] = {}
    scales: dict[str, Any] = {}
    cameras: dict[str, LatestFrameCamera] = {}
    for st in settings.stations:
        sid = st.station_id
        scale = hardware.driver_for(
            st.scale,
            name=f"{sid}-scale",
            on_weight=WeightTracker(partial(submit, sid)),
            on_status=partial(_on_scale, submit, sid, status("other", "scale")),
        )
        parts.drivers.append(scale)
        scales[sid] = scale
        screens.update(_screen(st, parts, submit, status))
        if st.scanner is not None:
            parts.drivers.append(
                hardware.station_scanner(st.scanner, f"{sid}-scanner", partial(_on_scan, submit, sid), status)
            )
        if st.keypad is not None:
            parts.drivers.append(station_keypad(st.keypad, f"{sid}-keypad", partial(submit, sid), status))
        for number, reader in enumerate(st.readers, 1):
            parts.drivers.append(_station_reader(reader, f"{sid}-reader-{number}", submit, sid, status))
        if st.camera is not None:
            cameras[sid] = LatestFrameCamera(
                st.camera.source,
                on_status=partial(_on_camera, submit, sid, parts.recognizer is not None),
            )
    parts.cameras = list(cameras.values())
    evidence = None
    if cameras:
        evidence = EvidenceProvider(
            lambda sid: cameras[sid].latest() if sid in cameras else None, parts.recognizer, submit
        )
    parts.evidence = evidence
    if cameras and reviews_dir is not None:
        parts.review_frames = ReviewFrames(lambda sid: cameras[sid].latest() if sid in cameras else None, reviews_dir)
    parts.io = CheckoutIO(screens, Payments(store_id, publisher, submit), submit, evidence, scales=scales)


def _screen(
    st: StationSettings,
    parts: CheckoutParts,
    submit: Callable[[str, Any], None],
    status: Callable[[str, str], Callable[[str, str, str], None]],
) -> dict[str, Screen]:
    if st.screen is None:
        return {}
    sid = st.station_id
    driver, screen = hardware.station_screen(st.screen, f"{sid}-screen", lambda i: submit(sid, i), status)
    parts.drivers.append(driver)
    return {sid: screen}


def _on_camera(submit: Callable[[str, Any], None], station_id: str, model_ok: bool, ok: bool, detail: str) -> None:
    submit(station_id, VisionStatus(ok, model_ok))


def _on_scale(
    submit: Callable[[str, Any], None],
    station_id: str,
    report: Callable[[str, str, str], None],
    name: str,
    state: str,
    detail: str,
) -> None:
    report(name, state, detail)  # the device_offline alarm and state/device-* for the operator
    submit(station_id, ScaleStatus(state != "disconnected"))  # the station stops taking new shoppers


def _on_scan(submit: Callable[[str, Any], None], station_id: str, scan: CodeScanned) -> None:
    submit(station_id, ItemScanned(scan.text))  # the station routes member codes (SM1.) itself


def _station_reader(
    config: Any,
    name: str,
    submit: Callable[[str, Any], None],
    station_id: str,
    status: Callable[[str, str], Callable[[str, str, str], None]],
) -> DriverThread:
    """Return a station reader's driver: codes go in as scans, cards and PINs as staff credentials."""
    driver: DriverThread = hardware.reader(
        config,
        name,
        on_code=lambda text: submit(station_id, ItemScanned(text)),
        on_credential=lambda kind, value: submit(station_id, CredentialPresented(kind, value, reader=name)),  # type: ignore[arg-type]
        status=status,
    )
    return driver
