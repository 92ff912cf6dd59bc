"""Headless Chromium drives warmline's /dashboard (the supervisor's desk).

Usage: dashboard.py BASE_URL ADMIN_TOKEN ARTIFACT_DIR [coach MIC_WAV]

Prints one JSON object per step on stdout (wall-clock times are
time.time()); waits for a line "go" on stdin where the Rust test
(tests/dashboard_page.rs) checks the server's side before the next step:

1. logs in as "Ada Lovelace" (the name and the admin token exchanged for a
   session, decision 0038), after a wrong token is refused, and reloads
   the page (the session resumes): {"ready": true, "refused": {"error",
   "kept", "desk_shown"}, "resumed", "kept", "storage": every
   sessionStorage value, "who"}
2. waits for the live call's row and the pending approval:
   {"row_at", "call_id", "flags", "approval_at"}
3. selects the call, listens ("l"), samples getStats() of the received
   audio for 2 s, saves dashboard.png: {"listen": [...]}
4. whispers: {"whispered_at"}; then waits for "go"
5. approves with the amount edited to 40: {"approved_at", "approvals_left"}
6. hangs up the listen leg, takes over ("t"), samples 2 s:
   {"take_over": [...]}; waits for "go"
7. hangs up ("h"), which ends the call: {"hung_up_at", "rows_after"}
8. opens the Audit view (its tab), waits for the six actions, saves
   dashboard-audit.png, then follows the call's link (only that call's
   entries) and logs out:
   {"audit_opened_at", "audit_shown_at", "audit": [{"who", "action", "at",
    "call"}], "filtered": [...], "logged_out_at", "kept_after"}

With `coach MIC_WAV` (Chromium's microphone): logs in ({"ready"}), waits
for the row and its long-silence flag (the server's `[call]
long_silence_secs` is 2 there), saves dashboard-silence.png
({"row_at", "call_id", "silence_at", "silent_since", "silence_text"}),
waits for "go" (a rep is in the call), coaches ("c") for 3 s
({"coach_connected_at", "coach_until"}) and hangs up ({"left": true}).
"""

import json
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

NAME = "Ada Lovelace"
KEPT = "return sessionStorage.getItem('warmline.session.token');"
STORAGE = "return Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k));"
AUDIT = ("return window.warmlineAudit ? window.warmlineAudit.entries.length : 0;")
AUDIT_ROWS = ("return [...document.querySelectorAll('#audit-rows tr')].map((tr) => ({"
              "who: tr.querySelector('.who-cell').textContent, action: tr.dataset.action, "
              "at: tr.querySelector('.at').dataset.at, call: (tr.querySelector('.call a') || {}).textContent || null}));")
SILENCE = ("const f = document.querySelector('#call-rows .flag[data-flag=\"silence\"]'); "
           "const v = [...window.warmlineDesk.calls.values()][0]; "
           "return f ? {text: f.textContent, since: v ? v.silent_since : null} : null;")

DESK = ("return window.warmlineDesk ? {state: window.warmlineDesk.state, stream: window.warmlineDesk.stream, "
        "calls: window.warmlineDesk.calls.size, approvals: window.warmlineDesk.approvals.length, "
        "whispers: window.warmlineDesk.whispers, "
        "leg: window.warmlineDesk.leg ? window.warmlineDesk.leg.state : null} : null;")

STATS = """
const done = arguments[arguments.length - 1];
const leg = window.warmlineDesk && window.warmlineDesk.leg;
const pc = leg && leg.peer;
if (!pc) { done(null); return; }
pc.getStats().then((report) => {
  let energy = null, duration = null, packets = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      energy = s.totalAudioEnergy; duration = s.totalSamplesDuration; packets = s.packetsReceived;
    }
  });
  done({energy, duration, packets});
}).catch(() => done(null));
"""


def say(obj):
    print(json.dumps(obj), flush=True)


def wait_for(driver, predicate, seconds):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        state = driver.execute_script(DESK)
        if state and predicate(state):
            return state
        time.sleep(0.05)
    return None


def sample(driver, seconds):
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        samples.append(driver.execute_async_script(STATS))
        time.sleep(0.2)
    return samples


def go():
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit("the test stopped")


def coach(driver, body):
    state = wait_for(driver, lambda s: s["calls"] > 0, 30)
    row_at = time.time() if state else None
    call_id = driver.execute_script("const r = document.querySelector('#call-rows tr'); return r && r.dataset.id;")
    # The caller says nothing and the greeting ends: the row is flagged.
    flag, silence_at = None, None
    start = time.monotonic()
    while flag is None and time.monotonic() - start < 20:
        flag = driver.execute_script(SILENCE)
        if flag is None:
            time.sleep(0.05)
    if flag is not None:
        silence_at = time.time()
        driver.save_screenshot(f"{sys.argv[3]}/dashboard-silence.png")
    say({"row_at": row_at, "call_id": call_id, "silence_at": silence_at,
         "silent_since": flag["since"] if flag else None, "silence_text": flag["text"] if flag else None})
    go()
    body().send_keys(Keys.ARROW_DOWN)
    body().send_keys("c")
    state = wait_for(driver, lambda s: s["leg"] == "connected", 10)
    connected_at = time.time() if state else None
    time.sleep(3)
    driver.save_screenshot(f"{sys.argv[3]}/dashboard-coach.png")
    say({"coach_connected_at": connected_at, "coach_until": time.time(),
         "notice": driver.find_element(By.ID, "notice").text})
    body().send_keys("h")
    wait_for(driver, lambda s: s["leg"] is None, 5)
    say({"left": True})


def main():
    base, token, artifacts = sys.argv[1:4]
    mode = sys.argv[4] if len(sys.argv) > 4 else "desk"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1360,860",
        *([f"--use-file-for-fake-audio-capture={sys.argv[5]}"] if mode == "coach" else []),
        f"--user-data-dir={tempfile.mkdtemp(prefix='warmline-chromium-')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    body = lambda: driver.find_element(By.TAG_NAME, "body")
    try:
        driver.set_script_timeout(5)
        driver.get(f"{base}/dashboard")
        driver.find_element(By.ID, "name").send_keys(NAME)
        field = driver.find_element(By.ID, "token")
        # A wrong token first: refused, with the reason, and nothing kept.
        field.send_keys("not-the-admin-token")
        field.submit()
        error = ""
        start = time.monotonic()
        while not error and time.monotonic() - start < 5:
            error = driver.find_element(By.ID, "login-error").text
            time.sleep(0.05)
        driver.save_screenshot(f"{artifacts}/dashboard-login.png")
        refused = {"error": error,
                   "kept": driver.execute_script(KEPT),
                   "desk_shown": driver.find_element(By.ID, "desk").is_displayed()}
        field.clear()
        field.send_keys(token)
        field.submit()
        state = wait_for(driver, lambda s: s["stream"] == "live", 10)
        # A reload resumes the tab's session (GET /api/v1/sessions/current).
        kept_before = driver.execute_script(KEPT)
        driver.refresh()
        state = state and wait_for(driver, lambda s: s["stream"] == "live", 10)
        say({"ready": state is not None, "refused": refused, "resumed": driver.execute_script(KEPT) == kept_before,
             "kept": driver.execute_script(KEPT), "storage": driver.execute_script(STORAGE),
             "who": driver.find_element(By.ID, "who").text})
        if mode == "coach":
            coach(driver, body)
            return

        state = wait_for(driver, lambda s: s["calls"] > 0, 30)
        row_at = time.time() if state else None
        # Rows are redrawn on every event: read them in one script.
        call_id = driver.execute_script("const r = document.querySelector('#call-rows tr'); return r && r.dataset.id;")
        state = wait_for(driver, lambda s: s["approvals"] > 0, 10)
        approval_at = time.time() if state else None
        time.sleep(1.1)  # a render tick: the row's flags follow the approvals
        flags = driver.execute_script("return [...document.querySelectorAll('#call-rows .flag')].map((f) => f.textContent);")
        say({"row_at": row_at, "call_id": call_id, "flags": flags, "approval_at": approval_at})

        body().send_keys(Keys.ARROW_DOWN)
        body().send_keys("l")
        state = wait_for(driver, lambda s: s["leg"] == "connected", 10)
        listen = sample(driver, 2.5) if state else []
        driver.save_screenshot(f"{artifacts}/dashboard.png")
        say({"listen": listen, "listen_state": driver.find_element(By.ID, "media-state").text,
             "notice": driver.find_element(By.ID, "notice").text, "desk": driver.execute_script(DESK)})

        body().send_keys("w")
        whisper = driver.switch_to.active_element
        whisper.send_keys("The caller is a premium customer: offer a callback.")
        whisper.send_keys(Keys.ENTER)
        state = wait_for(driver, lambda s: s["whispers"] == 1, 3)
        say({"whispered_at": time.time() if state else None})
        go()

        item = driver.find_element(By.CSS_SELECTOR, "#approvals li.approval")
        args = item.find_element(By.CSS_SELECTOR, "textarea")
        args.clear()
        args.send_keys('{"order": "A17", "amount": 40}')
        item.find_element(By.CSS_SELECTOR, "button.approve").click()
        state = wait_for(driver, lambda s: s["approvals"] == 0, 3)
        say({"approved_at": time.time() if state else None,
             "approvals_left": state["approvals"] if state else None,
             "notice": driver.find_element(By.ID, "notice").text})

        body().send_keys("h")
        wait_for(driver, lambda s: s["leg"] is None, 5)
        body().send_keys("t")
        state = wait_for(driver, lambda s: s["leg"] == "connected", 10)
        take_over = sample(driver, 2.5) if state else []
        driver.save_screenshot(f"{artifacts}/dashboard-take-over.png")
        say({"take_over": take_over, "take_over_state": driver.find_element(By.ID, "media-state").text})
        go()

        hung_up_at = time.time()
        body().send_keys("h")
        state = wait_for(driver, lambda s: s["calls"] == 0 and s["leg"] is None, 5)
        say({"hung_up_at": hung_up_at, "rows_after": state["calls"] if state else None})

        # The Audit view: every action above under the name, newest first.
        audit_opened_at = time.time()
        driver.find_element(By.CSS_SELECTOR, '#views a[data-view="audit"]').click()
        shown = None
        start = time.monotonic()
        while shown is None and time.monotonic() - start < 3:
            if driver.execute_script(AUDIT) >= 6:
                shown = time.time()
            else:
                time.sleep(0.05)
        rows = driver.execute_script(AUDIT_ROWS)
        driver.save_screenshot(f"{artifacts}/dashboard-audit.png")
        driver.find_element(By.CSS_SELECTOR, "#audit-rows .call a").click()
        start = time.monotonic()
        filtered = rows
        while time.monotonic() - start < 3:
            filtered = driver.execute_script(AUDIT_ROWS)
            if filtered and all(r["call"] for r in filtered) and len(filtered) < len(rows):
                break
            time.sleep(0.05)
        driver.find_element(By.ID, "logout").click()
        logged_out_at = time.time()
        wait_for(driver, lambda s: s["state"] == "logged-out", 3)
        time.sleep(0.3)  # the DELETE is on its way
        say({"audit_opened_at": audit_opened_at, "audit_shown_at": shown, "audit": rows,
             "filtered": filtered, "logged_out_at": logged_out_at, "kept_after": driver.execute_script(KEPT),
             "login_shown": driver.find_element(By.ID, "login-view").is_displayed()})
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
