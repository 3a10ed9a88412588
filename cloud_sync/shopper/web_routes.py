"""The app's files under ``/app/`` and the QR encoder vendored from npm (``make setup`` installs it)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from cloud_sync.config import CloudSettings

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"
QR_LIB = Path("qrcode-generator") / "dist" / "qrcode.js"
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "styles.css": "text/css; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
}
_STRINGS = re.compile(r"^[a-z]{2}(-[A-Z]{2})?\.json$")
NO_CACHE = {"Cache-Control": "no-cache"}  # the service worker keeps the offline copy; always revalidate


def qr_library(settings: CloudSettings) -> Path:
    """Return where the vendored QR encoder should be (``CLOUD_SHOPPER_VENDOR_DIR`` or web/node_modules)."""
    return (settings.shopper_vendor_dir or WEB / "node_modules") / QR_LIB


def build_router(settings: CloudSettings) -> APIRouter:
    """Return the routes serving the app; log one line now if the QR encoder is missing."""
    router = APIRouter(include_in_schema=False)
    library = qr_library(settings)
    if not library.is_file():
        log.warning("shopper app: the QR encoder is missing at %s; run 'make setup' (npm ci)", library)

    @router.get("/app")
    def app_root() -> RedirectResponse:
        return RedirectResponse("/app/", status_code=status.HTTP_308_PERMANENT_REDIRECT)

    @router.get("/app/")
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type=FILES["index.html"], headers=NO_CACHE)

    @router.get("/app/vendor/qrcode.js")
    def vendor_qr() -> Response:
        if not library.is_file():
            return PlainTextResponse("QR encoder not installed: run make setup", status_code=404)
        return FileResponse(library, media_type=FILES["app.js"], headers=NO_CACHE)

    @router.get("/app/strings/{name}")
    def strings(name: str) -> FileResponse:
        path = WEB / "strings" / name
        if not _STRINGS.fullmatch(name) or not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such language")
        return FileResponse(path, media_type="application/json", headers=NO_CACHE)

    @router.get("/app/{name}")
    def asset(name: str) -> FileResponse:
        if name not in FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
        return FileResponse(WEB / name, media_type=FILES[name], headers=NO_CACHE)

    return router
