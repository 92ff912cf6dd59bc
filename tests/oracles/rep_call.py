"""Headless Chromium takes a live call on warmline's /rep softphone.

Usage: rep_call.py BASE_URL TOKEN ARTIFACT_DIR MIC_WAV TALK_SECONDS

Chromium gets MIC_WAV as its fake microphone. The script logs in with
TOKEN, goes available ("1"), prints {"ready": true}, and waits up to 30 s
for the ring the Rust test's simulated caller causes
(tests/warm_transfer.rs). It saves rep-call-ringing.png once the card
shows the AI's next action, accepts ("a"), waits for the page's audio to
connect and the call to be bridged, saves rep-call-bridged.png, samples
getStats() of the received audio (`totalAudioEnergy`, which only moves
while the remote track plays into the page's <audio> element) for
TALK_SECONDS, then hangs up ("h"), and opens the call's card page
(/rep/calls/{id}) in a new tab, logs in there and saves rep-card.png.
Prints one JSON object with wall-clock
times (time.time()) and the samples; the Rust test judges it.
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

STATE = ("return window.warmlineRep ? {state: window.warmlineRep.state, "
         "presence: window.warmlineRep.presence, audio: window.warmlineRep.audio} : null;")

STATS = """
const done = arguments[arguments.length - 1];
const pc = window.warmlineRep && window.warmlineRep.peer;
if (!pc) { done(null); return; }
pc.getStats().then((report) => {
  let energy = null, duration = null, packets = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      energy = s.totalAudioEnergy; duration = s.totalSamplesDuration; packets = s.packetsReceived;
    }
  });
  done({energy, duration, packets, pcState: pc.connectionState});
}).catch(() => done(null));
"""


def wait_for(driver, predicate, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        state = driver.execute_script(STATE)
        if state and predicate(state):
            return state, time.monotonic() - start
        time.sleep(0.05)
    return driver.execute_script(STATE), None


CARD = ("return window.warmlineCard ? {state: window.warmlineCard.state, "
        "next_action: document.getElementById('next-action').textContent, "
        "summary: document.getElementById('summary').textContent, "
        "caller: document.getElementById('caller').textContent, "
        "lines: document.querySelectorAll('#transcript li').length} : null;")


def card_page(driver, base, token, call_id, artifacts):
    """The call's card page (/rep/calls/{id}) in a new tab: a new tab has
    its own sessionStorage, so the page asks for the rep token first."""
    if not call_id:
        return None
    driver.switch_to.new_window("tab")
    driver.get(f"{base}/rep/calls/{call_id}")
    start = time.monotonic()
    while time.monotonic() - start < 3 and not driver.find_element(By.ID, "login-view").is_displayed():
        time.sleep(0.05)
    asked = driver.find_element(By.ID, "login-view").is_displayed()
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()
    start = time.monotonic()
    card = None
    while time.monotonic() - start < 3:
        card = driver.execute_script(CARD)
        if card and card["state"] == "ended" and card["next_action"] not in ("", "—"):
            break
        time.sleep(0.05)
    driver.save_screenshot(f"{artifacts}/rep-card.png")
    return {"asked_token": asked, "shown_after_s": time.monotonic() - start, **(card or {})}


def main():
    base, token, artifacts, wav, talk = sys.argv[1:6]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=900,1100",
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    report = {}
    body = lambda: driver.find_element(By.TAG_NAME, "body")
    try:
        driver.set_script_timeout(5)
        driver.get(f"{base}/rep")
        field = driver.find_element(By.ID, "token")
        field.send_keys(token)
        field.submit()
        wait_for(driver, lambda s: s["state"] == "idle", 10)
        body().send_keys("1")
        state, _ = wait_for(driver, lambda s: s["presence"] == "available", 5)
        report["presence"] = state["presence"] if state else None
        print(json.dumps({"ready": True}), flush=True)
        state, waited = wait_for(driver, lambda s: s["state"] == "ringing", 30)
        report["ring_at"] = time.time() if waited is not None else None
        start = time.monotonic()
        while time.monotonic() - start < 5 and driver.find_element(By.ID, "next-action").text in ("", "—"):
            time.sleep(0.05)
        report["next_action"] = driver.find_element(By.ID, "next-action").text
        driver.save_screenshot(f"{artifacts}/rep-call-ringing.png")
        body().send_keys("a")
        state, _ = wait_for(driver, lambda s: s["audio"] == "connected", 10)
        report["audio"] = state["audio"] if state else None
        state, _ = wait_for(driver, lambda s: s["state"] == "bridged", 20)
        report["bridged_at"] = time.time() if state and state["state"] == "bridged" else None
        report["call_state"] = driver.find_element(By.ID, "call-state").text
        samples = []
        start = time.monotonic()
        while time.monotonic() - start < float(talk):
            samples.append({"t": time.time(), "stats": driver.execute_async_script(STATS)})
            time.sleep(0.2)
        report["samples"] = samples
        driver.save_screenshot(f"{artifacts}/rep-call-bridged.png")
        report["call_id"] = driver.execute_script(
            "return window.warmlineRep.card && window.warmlineRep.card.call_id;")
        report["hung_up_at"] = time.time()
        body().send_keys("h")
        state, _ = wait_for(driver, lambda s: s["state"] == "idle", 5)
        report["after_hangup"] = state["state"] if state else None
        report["notice"] = driver.find_element(By.ID, "notice").text
        report["card_page"] = card_page(driver, base, token, report["call_id"], artifacts)
        print(json.dumps(report), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
