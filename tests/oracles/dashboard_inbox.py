"""Headless Chromium drives the desk's Inbox and Call detail views
(/dashboard#inbox, #call/{id}; web/dashboard/inbox.js and detail.js).

Usage: dashboard_inbox.py BASE_URL ADMIN_TOKEN ARTIFACT_DIR

Prints one JSON object per step on stdout (wall-clock times are
time.time()); waits for a line "go" on stdin where the Rust test
(tests/dashboard_inbox.rs) acts or checks the server's side:

1. logs in, opens the Inbox tab: {"ready", "inbox_loaded"}
2. waits for a caller waiting for a person:
   {"pending_at", "call_id", "phase", "text"}; waits for "go" (the call
   has ended)
3. waits for the call's callback (to do) and its hand-over, each with the
   summary and the next action; saves inbox.png:
   {"shown_at", "callback": {...}, "handoff": {...}}
4. marks the callback done: {"marked_at", "done": {...}, "open_left"};
   waits for "go" (the API was re-read)
5. reloads the page (the tab keeps its login): the callback is still
   done: {"reloaded_done", "reloaded_open"}; saves inbox-done.png
6. opens the hand-over's call detail; waits for the timeline and the
   recording: {"opened_at", "loaded_at", "recording_at", "recording",
   "duration", "kinds", "tools", "handoff", "cut_lines", "barges"}
7. clicks a transcript line: the player seeks there and plays; saves
   call.png: {"seek_ms", "current", "later", "paused"}
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

INBOX = "return window.warmlineInbox ? {loadedAt: window.warmlineInbox.loadedAt, marks: window.warmlineInbox.marks} : null;"
CALL = ("const c = window.warmlineCall; return c ? {id: c.id, loaded: c.loaded, loadedAt: c.loadedAt, error: c.error, "
        "recording: c.recording, duration: c.duration, entries: c.entries, seeks: c.seeks} : null;")

# Each card's visible text, by group, read in one script (the list is
# redrawn whenever the answer changes).
CARDS = """
const out = {};
for (const group of document.querySelectorAll('#inbox-groups [data-group]')) {
  out[group.dataset.group] = [...group.querySelectorAll('.inbox-item')].map((li) => ({
    kind: li.dataset.kind, call_id: li.dataset.call, done: li.dataset.done === 'true',
    text: li.innerText,
    summary: (li.querySelector('.summary') || {}).textContent || null,
    next_action: (li.querySelector('.next-action') || {}).textContent || null,
    message: (li.querySelector('.message') || {}).textContent || null,
    who: (li.querySelector('.who') || {}).textContent || null,
    can_mark: !!li.querySelector('button.mark-done'),
  }));
}
return out;
"""


def say(obj):
    print(json.dumps(obj), flush=True)


def go():
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit("the test stopped")


def wait_for(driver, script, predicate, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        value = driver.execute_script(script)
        if value and predicate(value):
            return value
        time.sleep(0.05)
    return None


def main():
    base, token, artifacts = sys.argv[1:4]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1360,900",
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_script_timeout(5)
        driver.get(f"{base}/dashboard")
        # The admin token and a name become a session (decision 0038).
        driver.find_element(By.ID, "name").send_keys("Katherine Johnson")
        field = driver.find_element(By.ID, "token")
        field.send_keys(token)
        field.submit()
        # The tab a person clicks.
        tab = None
        start = time.monotonic()
        while tab is None and time.monotonic() - start < 10:
            links = [a for a in driver.find_elements(By.CSS_SELECTOR, "#views a[data-view='inbox']") if a.is_displayed()]
            tab = links[0] if links else None
            time.sleep(0.05)
        if tab is None:
            say({"ready": False})
            return
        tab.click()
        loaded = wait_for(driver, INBOX, lambda s: s["loadedAt"] is not None, 10)
        say({"ready": loaded is not None, "inbox_loaded": loaded,
             "hash": driver.execute_script("return location.hash;")})

        cards = wait_for(driver, CARDS, lambda c: len(c.get("pending", [])) > 0, 90)
        pending = cards["pending"][0] if cards else {}
        say({"pending_at": time.time() if cards else None, "call_id": pending.get("call_id"),
             "text": pending.get("text")})
        go()

        def shown(c):
            open_ = [i for i in c.get("open", []) if i["summary"] and i["next_action"]]
            past = [i for i in c.get("past", []) if i["summary"] and i["next_action"]]
            return open_ and past
        cards = wait_for(driver, CARDS, shown, 20)
        shown_at = time.time() if cards else None
        driver.save_screenshot(f"{artifacts}/inbox.png")
        say({"shown_at": shown_at,
             "callback": cards["open"][0] if cards else None,
             "handoff": cards["past"][0] if cards else None,
             "pending_left": len(cards.get("pending", [])) if cards else None})

        button = driver.find_element(By.CSS_SELECTOR, "[data-group='open'] .inbox-item button.mark-done")
        button.click()
        cards = wait_for(driver, CARDS, lambda c: len(c.get("done", [])) > 0 and not c.get("open"), 5)
        say({"marked_at": time.time() if cards else None,
             "done": cards["done"][0] if cards else None,
             "open_left": len(cards.get("open", [])) if cards else None})
        go()

        driver.refresh()
        loaded = wait_for(driver, INBOX, lambda s: s["loadedAt"] is not None, 10)
        cards = wait_for(driver, CARDS, lambda c: len(c.get("done", [])) > 0, 5) if loaded else None
        driver.save_screenshot(f"{artifacts}/inbox-done.png")
        say({"reloaded_done": cards.get("done") if cards else None,
             "reloaded_open": len(cards.get("open", [])) if cards else None})

        link = driver.find_element(By.CSS_SELECTOR, "[data-group='past'] .inbox-item a.open")
        opened_at = time.time()
        link.click()
        detail = wait_for(driver, CALL, lambda c: c["loaded"] or c["error"], 10)
        loaded_at = time.time() if detail and detail["loaded"] else None
        detail = wait_for(driver, CALL, lambda c: c["recording"] not in ("none", "loading") and c["duration"], 10)
        recording_at = time.time() if detail else None
        detail = driver.execute_script(CALL)
        entries = driver.execute_script("""
return [...document.querySelectorAll('#cd-timeline .entry')].map((li) => ({
  kind: li.dataset.kind, at: Number(li.dataset.at), who: li.dataset.who || null,
  cut: li.dataset.cut === 'true', step: li.dataset.step || null,
  tool: (li.querySelector('.tool-name') || {}).textContent || null,
  text: li.innerText}));""")
        say({"opened_at": opened_at, "loaded_at": loaded_at, "recording_at": recording_at,
             "hash": driver.execute_script("return location.hash;"),
             "recording": detail["recording"], "duration": detail["duration"], "error": detail["error"],
             "kinds": [e["kind"] for e in entries],
             "tools": [e["tool"] for e in entries if e["kind"] == "tool"],
             "handoff": [e["step"] for e in entries if e["kind"] == "handoff"],
             "cut_lines": sum(1 for e in entries if e["cut"]),
             "barges": sum(1 for e in entries if e["kind"] == "barge"),
             "escalation_text": driver.find_element(By.ID, "cd-escalations").text,
             "rec_state": driver.find_element(By.ID, "cd-rec-state").text})

        # A line a few seconds in: the player jumps there and plays on.
        lines = driver.find_elements(By.CSS_SELECTOR, "#cd-timeline .entry[data-kind='line']")
        target = next((li for li in lines if int(li.get_attribute("data-at")) >= 2000), lines[-1] if lines else None)
        seek_ms = int(target.get_attribute("data-at")) if target else None
        if target is not None:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
            target.click()
        audio = "const a = document.getElementById('cd-audio'); return {t: a.currentTime, paused: a.paused};"
        time.sleep(0.2)
        first = driver.execute_script(audio)
        time.sleep(1.0)
        later = driver.execute_script(audio)
        driver.execute_script("document.getElementById('cd-audio').pause();")
        # The whole timeline in one picture: a window as tall as the page.
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1360, min(max(900, height + 140), 4000))
        driver.execute_script("window.scrollTo(0, 0);")
        driver.save_screenshot(f"{artifacts}/call.png")
        say({"seek_ms": seek_ms, "current": first["t"], "later": later["t"], "paused": later["paused"]})
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
