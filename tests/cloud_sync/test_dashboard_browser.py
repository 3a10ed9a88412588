"""The per-store dashboard page in headless Chromium: phone layout, commands and their replies, acknowledgement."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from cloud_sync import downlink_key
from cloud_sync.config import CloudSettings
from cloud_sync.main import create_app
from cloud_sync.services.tokens import Role
from contracts.messages import COMMAND_ADAPTER, CommandReply, dump
from contracts.signing import open_envelope
from contracts.topics import Topics
from smartstore.testing.broker import free_port
from smartstore.testing.browser import CHROMIUM, MISSING, chrome
from tests.cloud_sync.conftest import make_token, wait_until
from tests.cloud_sync.dashboard_seed import seed_store

ReplyStatus = Literal["ok", "error", "rejected", "expired"]
SHOTS = Path("/tmp/smartstore-dashboard-shots")  # looked at by a person; never in the repository
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason=MISSING),
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

    d = chrome(1280, 1000, "--hide-scrollbars")
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
    set_viewport(driver, width, slice_height)  # the page's height depends on its width
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
        full_screenshot(driver, 1280, SHOTS / "fleet-1280.png")

        driver.get(f"{url}/stores/night-7")
        set_viewport(driver, 1280, 900)
        overflow = driver.execute_script("return [document.scrollingElement.scrollWidth, window.innerWidth];")
        assert overflow[0] <= overflow[1]
        full_screenshot(driver, 1280, SHOTS / "store-1280.png")


class FakeStore:
    """A store that answers its commands: verifies each with the cloud's downlink key, records it and replies."""

    def __init__(self, broker: Any, store_id: str, keys: dict[str, Any], status: ReplyStatus = "ok") -> None:
        """Connect with the store's own login and subscribe to its command topics."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.client import CallbackAPIVersion

        self.topics = Topics(store_id)
        self.store_id = store_id
        self.keys = keys
        self.status = status
        self.received: list[Any] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fake-{store_id}", protocol=mqtt.MQTTv5)
        broker.login(self.client, broker.store_login(store_id))
        self.client.on_connect = lambda c, *a: c.subscribe(self.topics.commands_filter, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the fake store did not subscribe"

    def _on_message(self, client: Any, _u: Any, msg: Any) -> None:
        if msg.topic.endswith("/reply"):
            return
        inner = open_envelope(bytes(msg.payload), topic=msg.topic, store_id=self.store_id, keys=self.keys)
        command = COMMAND_ADAPTER.validate_json(inner)
        self.received.append(command)
        reply = CommandReply(
            correlation_id=command.correlation_id,
            name=command.name,
            status=self.status,
            error=None if self.status == "ok" else "the lock did not answer",
        )
        client.publish(self.topics.reply(command.name), dump(reply), qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def live_settings(settings: CloudSettings, broker: Any) -> CloudSettings:
    """Settings with the downlink publisher (which sends commands and records replies) on the test broker."""
    return settings.model_copy(update=broker.cloud("downlink") | {"downlink_enabled": True})


def _keys(settings: CloudSettings) -> dict[str, Any]:
    return dict(downlink_key.load_or_create(settings.downlink_key_file).announcement().public_keys())


def _open(driver: Any, summary: str) -> Any:
    """Unfold the command form under ``summary`` and return the form."""
    from selenium.webdriver.common.by import By

    details = driver.find_element(By.XPATH, f"//details[summary[normalize-space()='{summary}']]")
    if not details.get_attribute("open"):
        details.find_element(By.TAG_NAME, "summary").click()
    return details.find_element(By.TAG_NAME, "form")


def test_an_operator_unlocks_a_store_and_sees_its_reply_arrive(
    live_settings: CloudSettings, engine: Engine, broker: Any, driver: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    seed_store(engine)
    store = FakeStore(broker, "night-7", _keys(live_settings))
    wait = WebDriverWait(driver, 20)
    try:
        with serve(live_settings, engine) as (url, app):
            assert wait_until(lambda: app.state.downlink is not None and app.state.downlink.connected.is_set(), 15)
            sign_in(driver, f"{url}/stores/night-7", make_token(engine, Role.OPERATOR))
            driver.execute_script("window.__noReload = 7;")
            form = _open(driver, "Unlock the door")
            seconds = form.find_element(By.NAME, "duration_s")
            seconds.clear()
            seconds.send_keys("8")
            form.find_element(By.NAME, "reason").send_keys("delivery van at the back door")
            form.find_element(By.TAG_NAME, "button").click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "command-result"), "unlock: ok"))
            assert re.search(r"unlock: ok in \d+ ms", driver.find_element(By.ID, "command-result").text)
            # The store got the operator's command with its reason; the page never reloaded.
            assert [(c.name, c.duration_s, c.reason) for c in store.received] == [
                ("unlock", 8.0, "delivery van at the back door")
            ]
            cid = store.received[0].correlation_id
            row = (By.CSS_SELECTOR, f'[data-command-status="{cid}"]')
            wait.until(ec.text_to_be_present_in_element(row, "ok"))  # the pushed history agrees
            assert driver.execute_script("return window.__noReload;") == 7

            # A refusal from the store is shown as such, with its error.
            store.status = "error"
            form = _open(driver, "Lockdown on / off")
            form.find_element(By.NAME, "reason").send_keys("police asked to close")
            form.find_element(By.TAG_NAME, "button").click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "command-result"), "lockdown: error"))
            assert "the lock did not answer" in driver.find_element(By.ID, "command-result").text
            assert store.received[-1].name == "lockdown" and store.received[-1].active is True
            full_screenshot(driver, 360, SHOTS / "store-command-360.png")
    finally:
        store.close()


def test_an_operator_acknowledges_an_alarm_and_a_technician_cannot_command(
    live_settings: CloudSettings, engine: Engine, driver: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    seed_store(engine)
    wait = WebDriverWait(driver, 20)
    with serve(live_settings, engine) as (url, app):
        assert wait_until(lambda: app.state.downlink is not None and app.state.downlink.connected.is_set(), 15)
        technician = make_token(engine, Role.TECHNICIAN)
        sign_in(driver, f"{url}/stores/night-7", technician)
        assert driver.find_elements(By.CSS_SELECTOR, "form[data-command]") == []
        assert "commands need an operator token" in driver.find_element(By.CLASS_NAME, "note").text
        refused = httpx.post(
            f"{url}/api/v1/stores/night-7/commands",
            json={"name": "unlock", "reason": "let me in", "args": {}},
            headers={"Authorization": f"Bearer {technician}"},
        )
        assert refused.status_code == 403
        driver.delete_all_cookies()

        operator = make_token(engine, Role.OPERATOR)
        sign_in(driver, f"{url}/stores/night-7", operator)
        driver.find_element(By.CSS_SELECTOR, 'button[data-ack-alarm="door_forced"]').click()
        acked = (By.CSS_SELECTOR, '[data-acked="door_forced"]')
        wait.until(ec.text_to_be_present_in_element(acked, "acknowledged by test-operator at"))
        assert "Europe/Stockholm" in driver.find_element(*acked).text
        assert "door_forced acknowledged by test-operator" in driver.find_element(By.ID, "ack-result").text
        assert driver.find_elements(By.CSS_SELECTOR, "button[data-ack-alarm]") == []
        headers = {"Authorization": f"Bearer {operator}"}
        alarms = httpx.get(f"{url}/api/v1/alarms", params={"store_id": "night-7", "active": True}, headers=headers)
        assert [(a["alarm"], a["acknowledged_by"]) for a in alarms.json()["items"]] == [
            ("door_forced", "test-operator")
        ]
        audit = httpx.get(f"{url}/api/v1/audit", params={"store_id": "night-7"}, headers=headers).json()["items"]
        assert [(a["action"], a["actor"]) for a in audit] == [("alarm.acknowledge", "test-operator")]
        full_screenshot(driver, 1280, SHOTS / "store-acknowledged-1280.png")


def test_a_command_nobody_answers_reads_unanswered_after_its_lifetime(
    live_settings: CloudSettings, engine: Engine, driver: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    seed_store(engine)
    settings = live_settings.model_copy(update={"command_lifetime_s": 5.0})  # the shortest the settings allow
    with serve(settings, engine) as (url, app):
        assert wait_until(lambda: app.state.downlink is not None and app.state.downlink.connected.is_set(), 15)
        sign_in(driver, f"{url}/stores/night-7", make_token(engine, Role.OPERATOR))
        form = _open(driver, "Set mode (day / night / auto)")
        form.find_element(By.CSS_SELECTOR, 'select[name="mode"] option[value="day"]').click()
        form.find_element(By.NAME, "reason").send_keys("shop staffed tonight")
        form.find_element(By.TAG_NAME, "button").click()
        wait = WebDriverWait(driver, 20)
        wait.until(ec.text_to_be_present_in_element((By.ID, "command-result"), "waiting for the store"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "command-result"), "set_mode: unanswered"))
        # The refused form input is one clear line too: a duration the API does not take.
        form = _open(driver, "Unlock the door")
        driver.execute_script("arguments[0].removeAttribute('max');", form.find_element(By.NAME, "duration_s"))
        seconds = form.find_element(By.NAME, "duration_s")
        seconds.clear()
        seconds.send_keys("600")
        form.find_element(By.NAME, "reason").send_keys("testing")
        form.find_element(By.TAG_NAME, "button").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "command-result"), "unlock: refused - "))
        assert "duration_s" in driver.find_element(By.ID, "command-result").text
