"""The operator dashboard in real headless Chromium: sign in, then live updates over SSE."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from cloud_sync.config import CloudSettings
from cloud_sync.main import create_app
from cloud_sync.services.tokens import Role
from contracts.messages import AlarmKind, AlarmRaised, CheckoutAbandoned, DoorState, Mode, dump
from contracts.topics import Topics
from smartstore.testing.broker import free_port
from smartstore.testing.browser import CHROMIUM, MISSING, chrome
from tests.cloud_sync.conftest import Publisher, make_token, wait_until


@pytest.fixture
def server(settings: CloudSettings, engine: Engine) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert wait_until(lambda: srv.started, timeout=15)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def test_sse_stream_sends_an_update_when_data_changes(
    server: str, engine: Engine, worker_factory: Callable[..., Any], publisher: Publisher
) -> None:
    token = make_token(engine, Role.TECHNICIAN)
    assert httpx.get(f"{server}/dashboard/events").status_code == 401
    worker_factory()
    seen: list[str] = []
    with httpx.stream(
        "GET", f"{server}/dashboard/events", headers={"Authorization": f"Bearer {token}"}, timeout=20
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(line)
                if len(seen) == 1:
                    publisher.publish(Topics("sse1").availability, "online", retain=True)
                elif 'data-availability=\\"sse1\\">online' in line:
                    break
    assert len(seen) >= 2
    assert "No store has reported yet" in seen[0]


@pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
@pytest.mark.timeout(120)
def test_dashboard_in_chromium_updates_live(
    server: str,
    engine: Engine,
    worker_factory: Callable[..., Any],
    publisher: Publisher,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    if not migrated_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; the data path is covered on both databases elsewhere")
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    worker_factory()
    token = make_token(engine, Role.OPERATOR)
    driver = chrome()
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(server + "/")
        driver.find_element(By.ID, "token").send_keys("sst_wrong")
        driver.find_element(By.ID, "sign-in").click()
        # The click submits a form: wait for the server's answer rather than reading the page mid-navigation.
        wait.until(lambda d: "Invalid token" in d.page_source)
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "stores"), "No store has reported yet"))
        wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
        driver.execute_script("window.__noReload = 42;")  # survives only if the page is not reloaded

        t = Topics("night-7")
        publisher.publish(t.availability, "online", retain=True)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-availability="night-7"]'), "online"))
        door = DoorState(
            door_id="main",
            mode=Mode.NIGHT,
            lockdown=False,
            lock="unlocked",
            door="open",
            occupancy=3,
            occupancy_cap=5,
            alarms=[],
        )
        publisher.publish(t.state("door"), dump(door), retain=True)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-occupancy="night-7"]'), "3/5"))
        publisher.publish(
            t.event("alarm_raised"),
            dump(AlarmRaised(store_id="night-7", alarm=AlarmKind.DOOR_FORCED, source="main", severity="critical")),
        )
        wait.until(ec.text_to_be_present_in_element((By.ID, "alarms"), "door_forced"))
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-alarms="night-7"]'), "1"))
        publisher.publish(t.availability, "offline", retain=True)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-availability="night-7"]'), "offline"))
        assert driver.execute_script("return window.__noReload;") == 42
        assert "(0 of 1 online)" in driver.find_element(By.ID, "store-count").text
        # An operator resolves a cloud alert from the page (REST call with the session cookie).
        gone = CheckoutAbandoned(
            store_id="night-7",
            sale_id=uuid.uuid4(),
            station_id="co1",
            member_id="m-3",
            reason="timeout",
            unidentified=1,
        )
        publisher.publish(t.event(gone.type), dump(gone))
        wait.until(ec.text_to_be_present_in_element((By.ID, "alerts"), "checkout_abandoned"))

        def click_resolve(d: Any) -> bool:  # a pushed update may replace the row between find and click
            try:
                d.find_element(By.CSS_SELECTOR, "#alerts button[data-resolve]").click()
            except StaleElementReferenceException:
                return False
            return True

        wait.until(click_resolve)
        wait.until(ec.text_to_be_present_in_element((By.ID, "alerts"), "No open alert."))
        assert driver.execute_script("return window.__noReload;") == 42
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
    finally:
        driver.quit()
    time.sleep(0.1)


def test_an_operator_enrols_and_retires_a_store_from_the_dashboard(
    server: str, engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    if not migrated_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; enrolment itself is tested on both databases")
    from nacl.signing import SigningKey
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from contracts.enrolment import pairing_code, sign_collect

    driver = chrome()
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(server + "/")
        driver.find_element(By.ID, "token").send_keys(make_token(engine, Role.OPERATOR))
        driver.find_element(By.ID, "sign-in").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
        driver.find_element(By.ID, "enrol-store").send_keys("night-9")
        driver.find_element(By.CSS_SELECTOR, "#enrol-form button").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "enrol-result"), "--token est_"))
        token = driver.find_element(By.ID, "enrol-result").text.split("--token ")[1].split()[0]

        # The store's Pi claims the token; its pairing code appears on its own screen.
        key = SigningKey.generate()
        public = key.verify_key.encode().hex()
        claimed = httpx.post(f"{server}/api/v1/enrol", json={"token": token, "device_key": public}).json()
        code = pairing_code(token, public, claimed["enrolment_id"])
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'input[data-code-for="night-9"]')))
        driver.find_element(By.CSS_SELECTOR, 'input[data-code-for="night-9"]').send_keys(code)
        driver.find_element(By.CSS_SELECTOR, 'button[data-confirm="night-9"]').click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "enrol-result"), "paired"))
        collect = sign_collect(key, claimed["enrolment_id"]).model_dump()
        bundle = httpx.post(f"{server}/api/v1/enrol/{claimed['enrolment_id']}/collect", json=collect)
        assert bundle.status_code == 200
        device = {"Authorization": f"Bearer {bundle.json()['api_token']}"}
        assert httpx.get(f"{server}/api/v1/stores/night-9", headers=device).status_code == 200
        driver.save_screenshot(str(tmp_path / "enrolled.png"))

        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'button[data-retire="night-9"]')))
        driver.find_element(By.CSS_SELECTOR, 'button[data-retire="night-9"]').click()
        wait.until(ec.alert_is_present())
        driver.switch_to.alert.accept()
        wait.until(ec.text_to_be_present_in_element((By.ID, "enrol-result"), "agent retired"))
        assert httpx.get(f"{server}/api/v1/stores/night-9", headers=device).status_code == 401
    finally:
        driver.quit()
