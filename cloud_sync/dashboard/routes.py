"""Dashboard routes: ``/`` and ``/stores/{id}`` (HTML), ``/login``, ``/dashboard/...`` data (JSON) and events (SSE)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from html import escape
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cloud_sync.api.deps import COOKIE_NAME
from cloud_sync.dashboard.fragments import local_time, table
from cloud_sync.dashboard.store_page import store_state
from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Alarm, Alert, Sale, Store, StoreEnrolment
from cloud_sync.services.inventory import inventory
from cloud_sync.services.tokens import Role, authenticate

HERE = Path(__file__).resolve().parent
PAGE = Template((HERE / "page.html").read_text())
LOGIN = Template((HERE / "login.html").read_text())
STORE = Template((HERE / "store.html").read_text())
CONTROLS = (HERE / "controls.html").read_text()
VIEW_ONLY = (
    '<p class="note">Your technician token shows this store and acknowledges its alarms; '
    "commands need an operator token.</p>"
)
RETIRED = '<p class="note">This store is retired: it takes no commands.</p>'
KEEPALIVE_S = 15.0
# What the REST API lets each role do (cloud_sync/api/routes/operations.py): commands need an operator.
COMMANDERS = {Role.OPERATOR}
ACKNOWLEDGERS = {Role.OPERATOR, Role.TECHNICIAN}
SAFE_NEXT = re.compile(r"/(stores/[A-Za-z0-9][A-Za-z0-9_-]{0,63})?")
router = APIRouter(include_in_schema=False)


def _role(request: Request) -> Role | None:
    """The role of the operator/technician token in the header or cookie, else ``None``."""
    secret = request.cookies.get(COOKIE_NAME)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        secret = auth[7:].strip()
    if not secret:
        return None
    with request.app.state.session_factory() as session:
        row = authenticate(session, secret)
        if row is None or row.role not in (Role.OPERATOR.value, Role.TECHNICIAN.value):
            return None
        return Role(row.role)


def _authorised(request: Request) -> bool:
    return _role(request) is not None


def _login_page(request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        LOGIN.safe_substitute(error=escape(error), next=escape(request.url.path, quote=True)), status_code=status_code
    )


def _store_row(s: Store, alarms: int) -> list[str]:
    sid = escape(s.id)
    status = "online" if s.online else "offline"
    occupancy = (
        "-" if s.occupancy is None else f"{s.occupancy}/{s.occupancy_cap if s.occupancy_cap is not None else '?'}"
    )
    return [
        f'<a class="store-link" href="/stores/{sid}" data-store="{sid}">{sid}</a>',
        escape(s.name or ""),
        f'<span class="badge {status}" data-availability="{escape(s.id)}">{status}</span>',
        f'<span data-door="{escape(s.id)}">{escape(s.door or "-")}</span>',
        escape(s.lock or "-"),
        escape((s.mode or "-") + (" (lockdown)" if s.lockdown else "")),
        f'<span data-occupancy="{escape(s.id)}">{escape(occupancy)}</span>',
        local_time(s.last_seen_at, s.time_zone),
        f'<span data-alarms="{escape(s.id)}">{alarms}</span>',
        f'<button type="button" data-retire="{escape(s.id)}">Retire</button>' if s.agent_key else "",
    ]


def _enrolment_rows(waiting: Sequence[StoreEnrolment]) -> list[list[str]]:
    return [
        [
            escape(e.store_id),
            escape(" ".join((e.hardware or {}).get(k, "") for k in ("node", "machine"))),
            local_time(e.claimed_at, None),
            f'<input data-code-for="{escape(e.store_id)}" inputmode="numeric" maxlength="6" size="7"> '
            f'<button type="button" data-confirm="{escape(e.store_id)}">Confirm</button>',
        ]
        for e in waiting
    ]


def dashboard_state(session: Session, low_stock_default: int) -> dict[str, Any]:
    """Return the rendered sections (HTML fragments, escaped) and a version hash."""
    stores = session.scalars(select(Store).order_by(Store.id)).all()
    active = session.scalars(
        select(Alarm).where(Alarm.active.is_(True)).order_by(Alarm.raised_at.desc()).limit(50)
    ).all()
    alarm_count = dict(
        session.execute(
            select(Alarm.store_id, func.count()).where(Alarm.active.is_(True)).group_by(Alarm.store_id)
        ).all()
    )
    sales = session.scalars(select(Sale).order_by(Sale.ts.desc()).limit(10)).all()
    alerts = session.scalars(select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.id.desc()).limit(10)).all()
    low = [r for r in inventory(session, None, default_threshold=low_stock_default) if r["low"]][:20]
    waiting = session.scalars(
        select(StoreEnrolment).where(StoreEnrolment.state == "claimed").order_by(StoreEnrolment.claimed_at)
    ).all()
    store_rows = [_store_row(s, alarm_count.get(s.id, 0)) for s in stores]
    zones = {s.id: s.time_zone for s in stores}
    sections = {
        "stores": table(
            ["Store", "Name", "Agent", "Door", "Lock", "Mode", "Occupancy", "Last seen", "Alarms", ""],
            store_rows,
            "No store has reported yet.",
        ),
        "store-count": f"({sum(1 for s in stores if s.online)} of {len(stores)} online)",
        "alarms": table(
            ["Store", "Alarm", "Source", "Severity", "Since"],
            [
                [
                    f'<a href="/stores/{escape(a.store_id)}">{escape(a.store_id)}</a>',
                    f'<span data-alarm="{escape(a.alarm)}">{escape(a.alarm)}</span>',
                    escape(a.source),
                    f'<span class="{escape(a.severity)}">{escape(a.severity)}</span>',
                    local_time(a.raised_at, zones.get(a.store_id)),
                ]
                for a in active
            ],
            "No open alarm.",
        ),
        "alerts": table(
            ["When", "Store", "Kind", "Message", ""],
            [
                [
                    local_time(a.created_at, zones.get(a.store_id or "")),
                    escape(a.store_id or "-"),
                    f'<span class="{escape(a.severity)}">{escape(a.kind)}</span>',
                    escape(a.message),
                    f'<button type="button" data-resolve="{int(a.id)}">Resolve</button>',
                ]
                for a in alerts
            ],
            "No open alert.",
        ),
        "sales": table(
            ["When", "Store", "Member", "Total", "Payment"],
            [
                [
                    local_time(s.ts, zones.get(s.store_id)),
                    f'<a href="/stores/{escape(s.store_id)}">{escape(s.store_id)}</a>',
                    escape(s.member_id),
                    f"{s.total_cents / 100:.2f}",
                    escape(s.payment_mode),
                ]
                for s in sales
            ],
            "No sale yet.",
        ),
        "enrolments": table(
            ["Store", "Device", "Claimed", "Pairing code on the store's screen"],
            _enrolment_rows(waiting),
            "No device waits for its pairing code.",
        ),
        "low-stock": table(
            ["Store", "Product", "Available", "Threshold"],
            [
                [escape(r["store_id"]), escape(r["name"] or r["product_id"]), str(r["available"]), str(r["threshold"])]
                for r in low
            ],
            "Nothing is low.",
        ),
    }
    version = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": version, "sections": sections}


def _state(request: Request) -> dict[str, Any]:
    with request.app.state.session_factory() as session:
        return dashboard_state(session, request.app.state.settings.low_stock_default)


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    """The dashboard, or the sign-in form without a valid operator/technician token."""
    if not _authorised(request):
        return _login_page(request)
    state = _state(request)
    s = state["sections"]
    html = PAGE.safe_substitute(
        version=state["version"],
        stores=s["stores"],
        store_count=s["store-count"],
        alarms=s["alarms"],
        alerts=s["alerts"],
        sales=s["sales"],
        low_stock=s["low-stock"],
        enrolments=s["enrolments"],
    )
    return HTMLResponse(html)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check a token from the form and keep it in an HttpOnly cookie."""
    body = parse_qs((await request.body())[:4096].decode("utf-8", errors="replace"))
    token = (body.get("token") or [""])[0].strip()
    after = (body.get("next") or ["/"])[0]
    after = after if SAFE_NEXT.fullmatch(after) else "/"
    with request.app.state.session_factory() as session:
        row = authenticate(session, token) if token else None
        ok = row is not None and row.role in (Role.OPERATOR.value, Role.TECHNICIAN.value)
    if not ok:
        page = LOGIN.safe_substitute(error="Invalid token, or not an operator/technician token.", next=escape(after))
        return HTMLResponse(page, status_code=401)
    response = RedirectResponse(after, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the dashboard cookie."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response


@router.get("/dashboard/data")
async def data(request: Request) -> Response:
    """The dashboard sections as JSON."""
    if not await run_in_threadpool(_authorised, request):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    return JSONResponse(await run_in_threadpool(_state, request))


@router.get("/dashboard/events")
async def events(request: Request) -> Response:
    """Server-Sent Events: an ``update`` with the sections whenever they change."""
    if not await run_in_threadpool(_authorised, request):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    return _stream(request, lambda: _state(request))


def _controls(role: Role, *, retired: bool) -> str:
    if retired:
        return RETIRED
    return CONTROLS if role in COMMANDERS else VIEW_ONLY


def _store_view(request: Request, store_id: str, role: Role) -> dict[str, Any] | None:
    with request.app.state.session_factory() as session:
        return store_state(session, store_id, can_ack=role in ACKNOWLEDGERS, now=utcnow())


@router.get("/stores/{store_id}", response_class=HTMLResponse)
def store_page(request: Request, store_id: str) -> Response:
    """One store: what it reported, its alarms, commands (with the forms to send them), entries and sales."""
    role = _role(request)
    if role is None:
        return _login_page(request)
    state = _store_view(request, store_id, role)
    if state is None:
        return HTMLResponse(
            f'<!doctype html><meta charset="utf-8"><link rel="stylesheet" href="/static/dashboard.css">'
            f'<p class="error">No store {escape(store_id)} is known. <a href="/">All stores</a></p>',
            status_code=404,
        )
    s = state["sections"]
    html = STORE.safe_substitute(
        version=state["version"],
        store_id=escape(state["store"]["id"]),
        store_name=escape(state["store"]["name"]),
        time_zone=escape(state["store"]["time_zone"]),
        controls=_controls(role, retired=state["store"]["retired"]),
        summary=s["summary"],
        active_alarms=s["active-alarms"],
        alarm_history=s["alarm-history"],
        devices=s["devices"],
        commands=s["commands"],
        entries=s["entries"],
        sales=s["sales"],
    )
    return HTMLResponse(html)


@router.get("/dashboard/stores/{store_id}/data")
async def store_data(request: Request, store_id: str) -> Response:
    """One store's page sections as JSON."""
    role = await run_in_threadpool(_role, request)
    if role is None:
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    state = await run_in_threadpool(_store_view, request, store_id, role)
    if state is None:
        return JSONResponse({"detail": f"no store {store_id!r}"}, status_code=404)
    return JSONResponse(state)


@router.get("/dashboard/stores/{store_id}/events")
async def store_events(request: Request, store_id: str) -> Response:
    """Server-Sent Events for one store's page: an ``update`` whenever its sections change."""
    role = await run_in_threadpool(_role, request)
    if role is None:
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    if await run_in_threadpool(_store_view, request, store_id, role) is None:
        return JSONResponse({"detail": f"no store {store_id!r}"}, status_code=404)
    return _stream(request, lambda: _store_view(request, store_id, role) or {"version": "gone", "sections": {}})


def _stream(request: Request, state_of: Callable[[], dict[str, Any]]) -> StreamingResponse:
    """An SSE response sending ``state_of()`` whenever its version changes, with keepalives."""
    interval = request.app.state.settings.dashboard_interval_s

    async def stream() -> AsyncIterator[bytes]:
        last = None
        idle = 0.0
        yield b"retry: 2000\n\n"
        while not await request.is_disconnected():
            state = await run_in_threadpool(state_of)
            if state["version"] != last:
                last = state["version"]
                idle = 0.0
                yield f"event: update\ndata: {json.dumps(state)}\n\n".encode()
            elif idle >= KEEPALIVE_S:
                idle = 0.0
                yield b": keepalive\n\n"
            await asyncio.sleep(interval)
            idle += interval

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
