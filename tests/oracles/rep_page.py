"""Headless Chromium uses warmline's /rep softphone, driven by Selenium.

Usage: rep_page.py BASE_URL TOKEN ARTIFACT_DIR

Logs in with TOKEN (typed into the form, as a rep would), goes available
with the keyboard ("1"), then waits up to 30 s for a ring that the Rust
test (tests/rep_page.rs) pushes from a test escalation. Once the card
shows the AI's summary and next action, it saves rep-ringing.png, presses
"a" to accept, waits for the call state, and saves rep-in-call.png. Prints
one JSON object with what the page showed; the Rust test judges it.
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

STATE = "return window.warmlineRep ? {state: window.warmlineRep.state, presence: window.warmlineRep.presence, rings: window.warmlineRep.rings} : null;"


def wait_for(driver, predicate, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        state = driver.execute_script(STATE)
        if state and predicate(state):
            return state, time.monotonic() - start
        time.sleep(0.05)
    return driver.execute_script(STATE), None


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def main():
    base, token, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--window-size=900,1100",
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    report = {}
    try:
        driver.set_script_timeout(5)
        driver.get(f"{base}/rep")
        report["title"] = driver.title
        field = driver.find_element(By.ID, "token")
        report["token_label"] = driver.find_element(By.CSS_SELECTOR, "label[for=token]").text
        field.send_keys(token)
        field.send_keys(Keys.ENTER)
        state, _ = wait_for(driver, lambda s: s["state"] == "idle", 10)
        report["after_login"] = state
        report["cookies"] = driver.get_cookies()
        report["stored_token"] = driver.execute_script("return sessionStorage.getItem('warmline.rep.token');") == token
        # Go available from the keyboard, as the page documents.
        driver.find_element(By.TAG_NAME, "body").send_keys("1")
        state, _ = wait_for(driver, lambda s: s["presence"] == "available", 5)
        report["presence"] = state["presence"] if state else None
        print(json.dumps({"ready": True}), flush=True)
        state, waited = wait_for(driver, lambda s: s["state"] == "ringing", 30)
        report["ring_after_s"] = waited
        # The model's summary replaces the tool's while it rings.
        start = time.monotonic()
        while time.monotonic() - start < 5 and text(driver, "next-action") in ("", "—"):
            time.sleep(0.05)
        report["card"] = {
            "caller": text(driver, "caller"),
            "reason": text(driver, "reason"),
            "summary": text(driver, "summary"),
            "next_action": text(driver, "next-action"),
            "transcript": [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#transcript li")],
            "records": text(driver, "records"),
            "focused": driver.switch_to.active_element.get_attribute("id"),
        }
        driver.save_screenshot(f"{artifacts}/rep-ringing.png")
        driver.find_element(By.TAG_NAME, "body").send_keys("a")
        state, _ = wait_for(driver, lambda s: s["state"] in ("brief", "bridged"), 10)
        report["after_accept"] = state
        report["call_state"] = text(driver, "call-state")
        driver.save_screenshot(f"{artifacts}/rep-in-call.png")
        print(json.dumps(report), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
