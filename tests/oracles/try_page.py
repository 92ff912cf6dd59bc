"""Headless Chromium calls warmline's /try page, driven by Selenium.

Usage: try_page.py BASE_URL MIC_WAV SCREENSHOT_PNG SECONDS

Chromium (Debian `chromium` + `chromium-driver`, from scripts/install-deps)
gets the WAV as its fake microphone, clicks Call, and for SECONDS samples
the page: its state, the transcript lines and barge-ins it shows, and
getStats() of the received audio track (`totalAudioEnergy`, which only
moves when the remote track plays into an <audio> element, as the page
does). Prints one JSON object with the time series; the Rust test
(tests/try_page.rs) judges it. Saves a screenshot when done.
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

STATS = """
const done = arguments[arguments.length - 1];
const call = window.warmline;
if (!call || !call.pc) { done(null); return; }
call.pc.getStats().then((report) => {
  let energy = null, samples = null, packets = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      energy = s.totalAudioEnergy; samples = s.totalSamplesReceived; packets = s.packetsReceived;
    }
  });
  done({energy, samples, packets, state: call.state, bargeIns: call.bargeIns,
        lines: call.lines.length, pcState: call.pc.connectionState});
}).catch(() => done(null));
"""


def main():
    base, wav, screenshot, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
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
        "--window-size=900,900",
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    samples = []
    try:
        driver.set_script_timeout(5)
        driver.get(f"{base}/try")
        title = driver.title
        driver.find_element(By.ID, "call").click()
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            stats = driver.execute_async_script(STATS)
            samples.append({"t": round(time.monotonic() - start, 3), "stats": stats})
            time.sleep(0.1)
        transcript = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#transcript li")]
        state_text = driver.find_element(By.ID, "state-text").text
        driver.save_screenshot(screenshot)
        print(json.dumps({"title": title, "samples": samples, "transcript": transcript,
                          "state_text": state_text}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
