"""Headless Chromium reads warmline's Analytics view on /dashboard.

Usage: dashboard_analytics.py BASE_URL ADMIN_TOKEN ARTIFACT_DIR

Prints one JSON object per step on stdout (wall-clock times are
time.time()); the Rust test (tests/dashboard_analytics.rs) compares what
the page shows with figures it worked out by hand:

1. logs in, opens the Analytics tab and waits for the figures:
   {"clicked_at", "ready_at", "window", "kpis", "notes", "days", "rates",
    "table", "versions"}; saves dashboard-analytics.png
2. switches the grouping to Version: {"ready_at", "groups", "table"};
   saves dashboard-analytics-versions.png
3. switches the range to 30 days: {"ready_at", "window", "days"}
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

STATE = "return window.warmlineAnalytics ? {state: window.warmlineAnalytics.state, loads: window.warmlineAnalytics.loads, error: window.warmlineAnalytics.error} : null;"

READ = """
const text = (el) => el ? el.textContent.trim() : null;
const kpis = {}, notes = {};
for (const card of document.querySelectorAll('#an-kpis .kpi')) {
  kpis[card.dataset.figure] = text(card.querySelector('.value'));
  notes[card.dataset.figure] = text(card.querySelector('.kpi-note'));
}
const days = [...document.querySelectorAll('#an-days .bar')].map((bar) => {
  const outcomes = {};
  for (const seg of bar.querySelectorAll('.seg')) outcomes[seg.dataset.outcome] = Number(seg.dataset.calls);
  return {day: bar.dataset.day, calls: Number(bar.dataset.calls), outcomes};
});
const rates = [...document.querySelectorAll('#an-rates .dot')].map((d) => ({day: d.dataset.day, field: d.dataset.field, value: Number(d.dataset.value)}));
const table = [...document.querySelectorAll('#an-rows tr')].map((tr) => ({key: tr.dataset.key === undefined ? null : tr.dataset.key, cells: [...tr.children].map(text)}));
const groups = [...document.querySelectorAll('#an-groups .bar')].map((b) => ({key: b.dataset.key, calls: Number(b.dataset.calls)}));
const versions = [...document.querySelectorAll('.version-card')].map((card) => ({
  agent: card.dataset.agent,
  versions: [...card.querySelectorAll('th[data-version]')].map((th) => th.dataset.version),
  calls: [...card.querySelectorAll('tbody tr:first-child td.num')].map(text),
}));
return {window: text(document.getElementById('an-window')), kpis, notes, days, rates, table, groups, versions,
        error: text(document.getElementById('an-error'))};
"""


def say(obj):
    print(json.dumps(obj), flush=True)


def wait_loads(driver, loads, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        state = driver.execute_script(STATE)
        if state and state["loads"] >= loads and state["state"] == "ready":
            return state
        if state and state["state"] == "error":
            return state
        time.sleep(0.02)
    return None


def whole_page(driver, path):
    """A screenshot of the whole view: the window grown to the page."""
    driver.set_window_size(1360, 860)
    for _ in range(3):
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        inner = driver.execute_script("return window.innerHeight;")
        if inner >= height:
            break
        size = driver.get_window_size()
        driver.set_window_size(1360, size["height"] + height - inner + 8)
        time.sleep(0.3)
    driver.save_screenshot(path)


def main():
    base, token, artifacts = sys.argv[1:4]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1360,860", "--force-device-scale-factor=1",
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"{base}/dashboard")
        # The admin token and a name become a session (decision 0038).
        driver.find_element(By.ID, "name").send_keys("Grace Hopper")
        field = driver.find_element(By.ID, "token")
        field.send_keys(token)
        field.submit()
        start = time.monotonic()
        while time.monotonic() - start < 10:
            if driver.execute_script("return window.warmlineDesk && window.warmlineDesk.state === 'watching';"):
                break
            time.sleep(0.05)

        clicked_at = time.time()
        driver.find_element(By.CSS_SELECTOR, '#views a[data-view="analytics"]').click()
        state = wait_loads(driver, 1, 10)
        ready_at = time.time() if state and state["state"] == "ready" else None
        page = driver.execute_script(READ)
        whole_page(driver, f"{artifacts}/dashboard-analytics.png")
        say({"clicked_at": clicked_at, "ready_at": ready_at, "state": state, **page})

        driver.find_element(By.CSS_SELECTOR, '#an-by button[data-value="version"]').click()
        state = wait_loads(driver, 2, 10)
        page = driver.execute_script(READ)
        whole_page(driver, f"{artifacts}/dashboard-analytics-versions.png")
        say({"ready_at": time.time() if state else None, "state": state, **page})

        driver.find_element(By.CSS_SELECTOR, '#an-range button[data-value="30"]').click()
        state = wait_loads(driver, 3, 10)
        page = driver.execute_script(READ)
        say({"ready_at": time.time() if state else None, "state": state, **page})
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
