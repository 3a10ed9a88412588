"""The per-store dashboard page and the offline API docs over HTTP (browser tests: test_dashboard_browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Store, StoreDevice
from cloud_sync.db.session import make_session_factory
from cloud_sync.services.tokens import Role
from tests.cloud_sync.conftest import make_token
from tests.cloud_sync.dashboard_seed import seed_store


def _as(engine: Engine, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(engine, role)}"}


def test_the_store_page_shows_every_section_in_the_stores_time_zone(client: TestClient, engine: Engine) -> None:
    seed_store(engine, time_zone="Europe/Stockholm")
    page = client.get("/stores/night-7", headers=_as(engine, Role.OPERATOR))
    assert page.status_code == 200
    html = page.text
    # Raised 01:13 UTC in January: 02:13 in Stockholm, with the zone named.
    assert '2026-01-15 02:13:00 <span class="tz">Europe/Stockholm</span>' in html
    assert "01:13:00 <span" not in html  # shown times are local (the datetime attribute stays UTC)
    # Alarm history newest first: door_forced raised, then door_held_open cleared, then raised.
    history = html[html.index('id="alarm-history"') :]
    order = [
        m.group(1) for m in re.finditer(r'<span class="badge (?:online|offline)">(raised|cleared)</span>', history)
    ]
    assert order[:3] == ["raised", "cleared", "raised"]
    assert history.index("door_forced") < history.index("door_held_open")
    # The active alarm has an Acknowledge button for an operator.
    assert 'data-ack-alarm="door_forced" data-ack-source="main"' in html
    # Devices as the store reported them, and its other retained state.
    assert "no answer on /dev/serial/by-id/usb-reader" in html
    assert "delivery" in html and "&quot;pending&quot;:3" in html
    # Commands with their replies: latency for the answered one, "unanswered" past the lifetime.
    assert 'data-command-status="night-7-ok">ok</span>' in html and "84 ms" in html
    assert 'data-command-status="night-7-lost">unanswered</span>' in html
    # Entries and sales of this store.
    assert "unknown_code" in html and "12.50" in html
    # The forms to command the store, each with a required reason.
    for name in ("unlock", "lockdown", "set_mode", "reset_occupancy", "resolve_review"):
        form = re.search(rf'<form data-command="{name}">(.*?)</form>', html, re.S)
        assert form is not None, name
        assert 'name="reason" maxlength="500" required' in form.group(1)


def test_the_fleet_page_links_each_store_and_shows_times_in_its_zone(client: TestClient, engine: Engine) -> None:
    seed_store(engine, "night-7", time_zone="Europe/Stockholm")
    seed_store(engine, "night-8", time_zone="America/New_York")
    html = client.get("/", headers=_as(engine, Role.TECHNICIAN)).text
    assert 'href="/stores/night-7"' in html and 'href="/stores/night-8"' in html
    assert '2026-01-15 02:13:00 <span class="tz">Europe/Stockholm</span>' in html  # night-7's alarm
    assert '2026-01-14 20:13:00 <span class="tz">America/New_York</span>' in html  # night-8's alarm


def test_an_unknown_zone_falls_back_to_utc_and_says_so(client: TestClient, engine: Engine) -> None:
    seed_store(engine, time_zone="Mars/Olympus_Mons")
    html = client.get("/stores/night-7", headers=_as(engine, Role.OPERATOR)).text
    assert '2026-01-15 01:13:00 <span class="tz">UTC</span>' in html


def test_a_technician_sees_the_store_and_may_acknowledge_but_gets_no_command_forms(
    client: TestClient, engine: Engine
) -> None:
    seed_store(engine)
    technician = _as(engine, Role.TECHNICIAN)
    html = client.get("/stores/night-7", headers=technician).text
    assert "door_forced" in html
    assert "data-command=" not in html and "commands need an operator token" in html
    assert 'data-ack-alarm="door_forced"' in html  # the API lets technicians acknowledge
    # The API agrees: a technician's command is refused, whatever the page shows.
    refused = client.post(
        "/api/v1/stores/night-7/commands", json={"name": "unlock", "reason": "test", "args": {}}, headers=technician
    )
    assert refused.status_code == 403


def test_the_store_page_asks_to_sign_in_and_comes_back_after(client: TestClient, engine: Engine) -> None:
    seed_store(engine)
    page = client.get("/stores/night-7")
    assert page.status_code == 200 and 'name="next" value="/stores/night-7"' in page.text
    assert client.get("/dashboard/stores/night-7/data").status_code == 401
    signed = client.post(
        "/login", data={"token": make_token(engine, Role.OPERATOR), "next": "/stores/night-7"}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/stores/night-7"
    elsewhere = client.post(
        "/login", data={"token": make_token(engine, Role.OPERATOR), "next": "//evil.example/x"}, follow_redirects=False
    )
    assert elsewhere.headers["location"] == "/"


def test_an_unknown_store_is_one_clear_line(client: TestClient, engine: Engine) -> None:
    headers = _as(engine, Role.OPERATOR)
    page = client.get("/stores/nowhere", headers=headers)
    assert page.status_code == 404 and "No store nowhere is known" in page.text
    assert client.get("/dashboard/stores/nowhere/data", headers=headers).status_code == 404
    assert client.get("/dashboard/stores/nowhere/events", headers=headers).status_code == 404


class _Refs(HTMLParser):
    """Collect every src/href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_the_api_docs_load_without_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    refs = _Refs()
    refs.feed(page.text)
    assert len(refs.refs) >= 3  # script, stylesheet, icon
    assert not [r for r in refs.refs if "//" in r], refs.refs
    assert not re.search(r"https?://", page.text), "the docs page names an external host"
    for ref in refs.refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc needs a CDN: disabled


def test_a_zone_set_through_the_api_is_the_one_the_page_uses(client: TestClient, engine: Engine) -> None:
    seed_store(engine, time_zone="UTC")
    operator = _as(engine, Role.OPERATOR)
    assert client.patch("/api/v1/stores/night-7", json={"time_zone": "Asia/Tokyo"}, headers=operator).status_code == 200
    html = client.get("/stores/night-7", headers=operator).text
    assert '2026-01-15 10:13:00 <span class="tz">Asia/Tokyo</span>' in html
    assert 'data-time-zone="Asia/Tokyo"' in html


def test_what_a_store_reports_is_escaped(client: TestClient, engine: Engine) -> None:
    seed_store(engine)
    with make_session_factory(engine)() as session, session.begin():
        store = session.get(Store, "night-7")
        assert store is not None
        store.name = "<script>alert(1)</script>"
        device = session.get(StoreDevice, ("night-7", "reader-main"))
        assert device is not None
        device.detail = '<img src=x onerror="alert(2)">'
    html = client.get("/stores/night-7", headers=_as(engine, Role.OPERATOR)).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_a_retired_store_offers_no_command_forms(client: TestClient, engine: Engine) -> None:
    seed_store(engine)
    with make_session_factory(engine)() as session, session.begin():
        store = session.get(Store, "night-7")
        assert store is not None
        store.retired_at = utcnow()
    html = client.get("/stores/night-7", headers=_as(engine, Role.OPERATOR)).text
    assert "data-command=" not in html and "This store is retired" in html
