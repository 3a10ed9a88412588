"""The FastAPI application factory: ``create_app(settings)`` builds everything, nothing at import."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from cloud_sync.api.docs import add_docs
from cloud_sync.api.routes import (
    activity,
    catalog,
    enrolment,
    members,
    notifications,
    operations,
    orders,
    staff,
    stores,
    sync,
    tokens,
)
from cloud_sync.config import CloudSettings
from cloud_sync.dashboard import routes as dashboard
from cloud_sync.db.base import aware, utcnow
from cloud_sync.db.models import Alarm, Alert, DeadLetter, Store
from cloud_sync.db.session import make_engine, make_session_factory
from cloud_sync.downlink import DownlinkPublisher
from cloud_sync.services.errors import ServiceError
from cloud_sync.shopper import routes as shopper
from cloud_sync.shopper import web_routes as shopper_web
from cloud_sync.shopper.payments import build_provider
from cloud_sync.shopper.senders import build_sender
from cloud_sync.watcher import Watcher

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
DESCRIPTION = """REST API of the smartstore cloud.

Authenticate with `Authorization: Bearer <token>`; create tokens with
`smartstore cloud token create --role operator|technician|device`. Money is in integer cents,
times are ISO 8601 (UTC if no offset). Lists are paginated with `limit` and `offset`.
"""


class _DbCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            with self.app.state.session_factory() as session:
                online = session.scalar(select(func.count()).select_from(Store).where(Store.online.is_(True))) or 0
                total = session.scalar(select(func.count()).select_from(Store)) or 0
                alarms = session.scalar(select(func.count()).select_from(Alarm).where(Alarm.active.is_(True))) or 0
                alerts = session.scalar(select(func.count()).select_from(Alert).where(Alert.resolved_at.is_(None))) or 0
                dead = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
        except OperationalError:
            return
        for name, doc, value in (
            ("smartstore_stores_online", "Stores whose agent is online", online),
            ("smartstore_stores", "Known stores", total),
            ("smartstore_alarms_active", "Active store alarms", alarms),
            ("smartstore_alerts_open", "Unresolved cloud alerts", alerts),
            ("smartstore_dead_letters", "Messages refused by the ingest", dead),
        ):
            yield GaugeMetricFamily(name, doc, value=float(value))
        yield from self._per_store()

    def _per_store(self) -> Iterable[GaugeMetricFamily]:
        """Online, seconds since last seen and open alarms per store, for the first ``metrics_max_stores`` stores.

        Labels are bounded: a fleet larger than the cap is cut (by store id) and the cut is counted, so
        a scrape never grows without limit; alert rules then use the fleet totals.
        """
        cap = self.app.state.settings.metrics_max_stores
        try:
            with self.app.state.session_factory() as session:
                stores = session.execute(
                    select(Store.id, Store.online, Store.last_seen_at)
                    .where(Store.retired_at.is_(None))
                    .order_by(Store.id)
                    .limit(cap)
                ).all()
                active = session.scalar(select(func.count()).select_from(Store).where(Store.retired_at.is_(None))) or 0
                open_alarms = dict(
                    session.execute(
                        select(Alarm.store_id, func.count()).where(Alarm.active.is_(True)).group_by(Alarm.store_id)
                    ).all()
                )
        except OperationalError:
            return
        online = GaugeMetricFamily("smartstore_store_online", "1 while the store's agent is online", labels=["store"])
        seen = GaugeMetricFamily(
            "smartstore_store_last_seen_seconds", "Seconds since the store's last message", labels=["store"]
        )
        alarms = GaugeMetricFamily("smartstore_store_alarms_active", "Active alarms of the store", labels=["store"])
        now = utcnow()
        for store_id, is_online, last_seen in stores:
            online.add_metric([store_id], float(bool(is_online)))
            if last_seen is not None:
                seen.add_metric([store_id], max(0.0, (now - aware(last_seen)).total_seconds()))
            alarms.add_metric([store_id], float(open_alarms.get(store_id, 0)))
        yield from (online, seen, alarms)
        yield GaugeMetricFamily(
            "smartstore_stores_unlabelled",
            "Stores beyond CLOUD_METRICS_MAX_STORES (no per-store series)",
            value=float(max(0, active - cap)),
        )


def create_app(
    settings: CloudSettings | None = None,
    *,
    engine: Engine | None = None,
    downlink: bool | None = None,
    watcher: bool | None = None,
) -> FastAPI:
    """Build the API, dashboard, metrics and (optionally) the downlink publisher and the watcher."""
    settings = settings or CloudSettings.from_env()
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url, echo=settings.db_echo, pool_size=settings.db_pool_size)
    registry = CollectorRegistry()
    run_downlink = settings.downlink_enabled if downlink is None else downlink
    run_watcher = settings.notify_enabled if watcher is None else watcher

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.key_passphrase is None:
            log.warning("CLOUD_KEY_PASSPHRASE is not set: member-pass signing keys are stored unencrypted")
        publisher = None
        if run_downlink:
            publisher = DownlinkPublisher(settings, app.state.session_factory, registry=registry)
            publisher.start()
            app.state.downlink = publisher
        watch = None
        if run_watcher:
            watch = Watcher(settings, app.state.session_factory)
            watch.start()
            app.state.watcher = watch
        try:
            yield
        finally:
            if watch is not None:
                watch.stop()
                app.state.watcher = None
            if publisher is not None:
                publisher.stop()
                app.state.downlink = None
            if own_engine:
                engine.dispose()

    app = FastAPI(
        title=settings.api_title,
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by add_docs from local assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.downlink = None
    app.state.watcher = None
    app.state.registry = registry

    _add_request_metrics(app, registry)
    _add_error_handlers(app)
    routers = (tokens, stores, enrolment, members, catalog, orders, activity, operations, sync, notifications, staff)
    for module in routers:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(dashboard.router)
    app.state.shopper_sender = build_sender(settings)  # the phone app (docs/shopper-app.md)
    app.state.shopper_payments = build_provider(settings)
    app.include_router(shopper.router)
    app.include_router(shopper_web.build_router(settings))
    add_docs(app)
    app.mount("/static", StaticFiles(directory=Path(dashboard.__file__).parent / "static"), name="static")
    _add_ops_routes(app, engine, registry)
    return app


def _add_request_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count and time every HTTP request by route, and expose the database gauges."""
    requests = Counter("smartstore_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("smartstore_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    registry.register(_DbCollector(app))

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", None)
        if name is None:
            name = "unmatched"
        elif request.url.path.startswith(API_PREFIX + "/") and not name.startswith(API_PREFIX):
            name = API_PREFIX + name  # included routers keep their own path; label with the full one
        requests.labels(request.method, name, str(response.status_code)).inc()
        latency.labels(name).observe(time.perf_counter() - start)
        return response


def _add_error_handlers(app: FastAPI) -> None:
    """Map service and database errors to JSON answers with the right HTTP status."""

    @app.exception_handler(ServiceError)
    async def service_error(_r: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_r: Request, _e: IntegrityError) -> JSONResponse:
        return JSONResponse(
            {"detail": "conflicts with existing data (duplicate or missing reference)"}, status_code=409
        )

    @app.exception_handler(DataError)
    async def data_error(_r: Request, err: DataError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"value rejected by the database: {str(err.orig).splitlines()[0][:200]}"}, status_code=422
        )

    @app.exception_handler(OperationalError)
    async def db_down(_r: Request, _e: OperationalError) -> JSONResponse:
        return JSONResponse(
            {"detail": "database unavailable, retry later"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_r: Request, err: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in err.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)


def _add_ops_routes(app: FastAPI, engine: Engine, registry: CollectorRegistry) -> None:
    """Add ``/healthz`` and ``/metrics``."""

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        """Liveness and readiness: the database answers (and the downlink is connected if enabled)."""
        body: dict[str, Any] = {"status": "ok"}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            body["database"] = "ok"
        except OperationalError as err:
            return JSONResponse({"status": "error", "database": str(err.orig)[:200]}, status_code=503)
        publisher = app.state.downlink
        if publisher is not None:
            body["downlink"] = "connected" if publisher.connected.is_set() else "disconnected"
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
