"""A station held for staff review keeps its last camera frame (best effort)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_agent.adapters.review_frame import ReviewFrames
from edge_agent.domain.checkout import StationTick
from edge_agent.services.checkout import CheckoutService, StationInput


class _Station:
    """Just enough of a station: whether it is held, and no actions."""

    held = False
    orphan_review = False

    def handle(self, _input: Any) -> list[object]:
        return []


class _Emitter:
    def append(self, _event: object) -> None: ...
    def flush(self) -> None: ...


def test_the_frame_of_a_held_station_is_kept_private_and_decodable(tmp_path: Path) -> None:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :32] = (0, 0, 255)
    frames = ReviewFrames(lambda sid: frame if sid == "co1" else None, tmp_path / "reviews")
    kept = frames.keep("co1")
    assert kept == tmp_path / "reviews" / "co1.jpg"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    image = cv2.imdecode(np.frombuffer(kept.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == frame.shape and image[10, 5, 2] > 200 and image[10, 60, 2] < 50
    assert frames.keep("co2") is None  # no camera frame: nothing kept, nothing raised
    assert not (tmp_path / "reviews" / "co2.jpg").exists()
    frames("co1", False)  # the hold ended: the frame goes
    assert not kept.exists()
    frames("co2", False)  # nothing kept: nothing to delete, nothing raised


def test_the_service_keeps_a_frame_once_per_hold_and_drops_it_after() -> None:
    station, calls = _Station(), list[tuple[str, bool]]()
    service = CheckoutService(
        {"co1": station},  # type: ignore[dict-item]
        _Emitter(),  # type: ignore[arg-type]
        on_hold=lambda sid, held: calls.append((sid, held)),
    )
    service.handle(StationInput("co1", StationTick()))
    assert calls == []
    station.held = True
    service.handle(StationInput("co1", StationTick()))
    service.handle(StationInput("co1", StationTick()))
    assert calls == [("co1", True)]  # once for this hold
    station.held = False
    service.handle(StationInput("co1", StationTick()))
    service.handle(StationInput("co1", StationTick()))
    station.held = True
    service.handle(StationInput("co1", StationTick()))
    assert calls == [("co1", True), ("co1", False), ("co1", True)]  # a new hold, a new frame


def test_a_failing_frame_keeper_does_not_stop_the_checkout(caplog: pytest.LogCaptureFixture) -> None:
    station = _Station()
    station.held = True

    def broken(_sid: str, _held: bool) -> None:
        raise RuntimeError("camera gone")

    service = CheckoutService({"co1": station}, _Emitter(), on_hold=broken)  # type: ignore[dict-item, arg-type]
    service.handle(StationInput("co1", StationTick()))  # logged, not raised
    assert "keeping the review frame of co1 failed" in caplog.text
    station.held = False
    service.handle(StationInput("co1", StationTick()))
    assert service._held == set()  # the service went on watching the station
