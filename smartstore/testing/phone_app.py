"""Drive the shopper's phone app (``/app/``) in headless Chromium, for tests and the demo.

``PhoneApp`` is one phone browser at phone width (390x844): join with a contact, read the
one-time code (from the cloud's log-sender file, ``CLOUD_SHOPPER_CODE_FILE``), put the pass on
the phone, go offline, and screenshot the door code as a PNG. ``door_code_png`` does the whole
walk and returns None when Chromium or Selenium is absent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartstore.testing.browser import CHROMIUM, chrome


def chromium() -> str | None:
    """Return the Chromium binary, or None when it is not installed."""
    return CHROMIUM


def read_code_file(path: Path, address: str, *, after: int = 0, timeout: float = 10.0) -> str:
    """Return the newest one-time code the log sender wrote for ``address`` beyond line ``after``.

    Raises:
        TimeoutError: no such code appeared in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()[after:]
            codes = [json.loads(line)["code"] for line in lines if json.loads(line)["to"] == address]
            if codes:
                return str(codes[-1])
        time.sleep(0.05)
    raise TimeoutError(f"no one-time code for {address} in {path}")


class PhoneApp:
    """One phone browser on the app: every step waits for what the page shows."""

    def __init__(self, base_url: str, *, width: int = 390, height: int = 844, timeout: float = 20.0) -> None:
        """Start headless Chromium at phone size (RuntimeError when Chromium is missing)."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.base_url = base_url.rstrip("/")
        self.driver: Any = chrome(width, height, "--force-device-scale-factor=1")
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
        )
        self.wait: Any = WebDriverWait(self.driver, timeout)

    def close(self) -> None:
        """Quit the browser."""
        self.driver.quit()

    def __enter__(self) -> PhoneApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ small helpers
    def el(self, element_id: str) -> Any:
        """Return the element with this id."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def text_of(self, element_id: str) -> str:
        """Return the visible text of an element."""
        return str(self.el(element_id).text)

    def wait_text(self, element_id: str, fragment: str) -> str:
        """Wait until the element's text contains ``fragment``; return the text."""
        self.wait.until(lambda d: fragment in self.text_of(element_id))
        return self.text_of(element_id)

    def js(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page."""
        return self.driver.execute_script(script, *args)

    def screenshot(self, path: Path) -> Path:
        """Save a screenshot of the whole viewport."""
        self.driver.save_screenshot(str(path))
        return path

    def set_offline(self, offline: bool) -> None:
        """Cut (or restore) the browser's network, as a phone in a basement would."""
        self.driver.set_network_conditions(
            offline=offline,
            latency=0,
            download_throughput=-1 if not offline else 0,
            upload_throughput=-1 if not offline else 0,
        )
        self.wait.until(lambda d: d.execute_script("return navigator.onLine;") is (not offline))

    # ------------------------------------------------------------------ the shopper's steps
    def open(self) -> None:
        """Open the app and wait for it to have started (sign-in form or home)."""
        self.driver.get(self.base_url + "/app/")
        self.wait.until(
            lambda d: d.execute_script(
                "return !document.getElementById('signin').hidden || !document.getElementById('home').hidden;"
            )
        )

    def sign_in(self, contact: str, read_code: Callable[[], str]) -> str:
        """Join or sign in with ``contact``, reading the one-time code with ``read_code``; return the status line."""
        self.el("contact").clear()
        self.el("contact").send_keys(contact)
        self.el("send-code").click()
        self.wait.until(lambda d: self.el("signin-form").is_displayed())
        self.el("otp").send_keys(read_code())
        self.el("sign-in").click()
        self.wait.until(lambda d: self.el("home").is_displayed())
        return self.text_of("status")

    def get_pass(self, label: str) -> str:
        """Make this phone's key, fetch the pass; return what the page says about it."""
        self.el("phone-label").clear()
        self.el("phone-label").send_keys(label)
        self.el("get-pass").click()
        return self.wait_text("pass-info", label)

    def wait_offline_ready(self) -> None:
        """Wait until the service worker controls the page (the app shell is cached)."""
        self.wait.until(lambda d: d.execute_script("return !!navigator.serviceWorker.controller;"))

    def tab(self, name: str) -> None:
        """Open one of the sections (door, wallet, orders, receipts)."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, f'nav button[data-tab="{name}"]').click()
        self.wait.until(lambda d: self.el(name).is_displayed())

    def show_code(self, store_id: str, *, other_than: int | None = None) -> tuple[str, int]:
        """Show the door code for ``store_id`` (in a window after ``other_than`` if given); return (text, window)."""
        from selenium.webdriver.support.ui import Select

        self.tab("door")
        Select(self.el("store")).select_by_value(store_id)
        if not self.el("code-box").is_displayed():
            self.el("show-code").click()

        def ready(_d: Any) -> Any:
            data = self.js("const b = document.getElementById('code-box'); return [b.dataset.code, b.dataset.window];")
            if not data or not data[0] or (other_than is not None and int(data[1]) <= other_than):
                return False
            return data

        code, window = self.wait.until(ready)
        return str(code), int(window)

    def code_png(self) -> bytes:
        """Return a screenshot of the QR code element as PNG bytes."""
        self.js("document.getElementById('code-box').scrollIntoView({block: 'start'});")
        return bytes(self.el("qr").screenshot_as_png)


def door_code_png(
    base_url: str, contact: str, code_file: Path, store_id: str, *, label: str = "demo phone"
) -> bytes | None:
    """Join in the app, get a pass, go offline and return the door code's PNG (None without Chromium)."""
    from cloud_sync.shopper.auth import normalise_contact

    if chromium() is None:
        return None
    try:
        app = PhoneApp(base_url)
    except ImportError:
        return None
    with app:
        app.open()
        seen = len(code_file.read_text(encoding="utf-8").splitlines()) if code_file.is_file() else 0
        address = normalise_contact(contact)[1]
        app.sign_in(contact, lambda: read_code_file(code_file, address, after=seen))
        app.get_pass(label)
        app.wait_offline_ready()
        app.set_offline(True)
        app.show_code(store_id)
        return app.code_png()
