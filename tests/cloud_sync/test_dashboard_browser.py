"""The per-store dashboard page in headless Chromium: phone layout, commands and their replies, acknowledgement."""

from __future__ import annotations

import base64
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from cloud_sync.config import CloudSettings
from cloud_sync.main import create_app
from cloud_sync.services.tokens import Role
from smartstore.testing.broker import free_port
from tests.cloud_sync.conftest import make_token, wait_until
from tests.cloud_sync.dashboard_seed import seed_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
SHOTS = Path("/tmp/smartstore-dashboard-shots")  # looked at by a person; never in the repository
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium chromium-driver)"),
    pytest.mark.timeout(120),
]

# Visible controls smaller than a fingertip (44 CSS px either way).
SMALL_TARGETS_JS = """
return Array.from(document.querySelectorAll('button, input:not([type=hidden]), select, a'))
  .filter(e => e.offsetParent !== null)
  .map(e => { const r = e.getBoundingClientRect(); return [e.outerHTML.slice(0, 90), r.width, r.height]; })
  .filter(x => x[1] < 44 || x[2] < 44);
"""


@pytest.fixture(autouse=True)
def _one_backend(migrated_url: str) -> None:
    if not migrated_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; the data path is covered on both databases elsewhere")


@contextmanager
def serve(settings: CloudSettings, engine: Engine) -> Iterator[tuple[str, Any]]:
    """Serve the app with uvicorn on a free loopback port; yield its URL and the app."""
    app = create_app(settings, engine=engine)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert wait_until(lambda: srv.started, timeout=15)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def driver() -> Iterator[Any]:
    """A headless Chromium driven by selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, "--window-size=1280,1000"]:
        options.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield d
    finally:
        d.quit()


def sign_in(driver: Any, url: str, token: str) -> None:
    """Open ``url``, sign in on the form it shows and wait until the page is live again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 20).until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
    assert driver.current_url == url


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def full_screenshot(driver: Any, width: int, path: Path, slice_height: int = 900) -> list[Path]:
    """Save the whole page at ``width`` CSS pixels as screen-sized slices ``path-1.png``, ``path-2.png``..."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight;"))
    set_viewport(driver, width, height)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = []
    for i, top in enumerate(range(0, height, slice_height), start=1):
        clip = {"x": 0, "y": top, "width": width, "height": min(slice_height, height - top), "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
        target = path.with_name(f"{path.stem}-{i}.png")
        target.write_bytes(base64.b64decode(shot["data"]))
        saved.append(target)
    return saved


def test_the_store_page_fits_a_phone_and_a_desktop(settings: CloudSettings, engine: Engine, driver: Any) -> None:
    from selenium.webdriver.common.by import By

    seed_store(engine)
    with serve(settings, engine) as (url, _app):
        sign_in(driver, f"{url}/stores/night-7", make_token(engine, Role.OPERATOR))
        assert "door_forced" in driver.find_element(By.ID, "active-alarms").text
        assert "Europe/Stockholm" in driver.find_element(By.ID, "summary").text

        set_viewport(driver, 360, 740)
        assert driver.execute_script("return window.innerWidth;") == 360
        overflow = driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")
        assert overflow[0] <= overflow[1], f"horizontal scrolling at 360 px: {overflow}"
        assert driver.execute_script(SMALL_TARGETS_JS) == []
        # Readable at arm's length: body text is at least 14 px.
        smallest = driver.execute_script(
            "return Math.min(...Array.from(document.querySelectorAll('td, dd, p, label, button'))"
            ".map(e => parseFloat(getComputedStyle(e).fontSize)));"
        )
        assert smallest >= 14
        full_screenshot(driver, 360, SHOTS / "store-360.png")

        driver.get(f"{url}/")
        set_viewport(driver, 360, 740)
        overflow = driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")
        assert overflow[0] <= overflow[1], f"fleet page scrolls sideways at 360 px: {overflow}"
        assert driver.execute_script(SMALL_TARGETS_JS) == []
        full_screenshot(driver, 360, SHOTS / "fleet-360.png")

        driver.get(f"{url}/stores/night-7")
        set_viewport(driver, 1280, 900)
        overflow = driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")
        assert overflow[0] <= overflow[1]
        full_screenshot(driver, 1280, SHOTS / "store-1280.png")
