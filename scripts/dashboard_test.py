"""The dashboard in a real browser (headless Chromium through Selenium), against a real miner.

Checks what an operator would: the page loads with no console errors, small and fast; it shows the
hash rate and "mining"; a curtail sent over the Unix socket turns it to "curtailed" within 2 s with
the reason, shown as text (an HTML payload in the reason runs nothing); Pause and Resume work; after
a restart of the miner the page reconnects by itself. Then against a miner with a token: the page loads,
asks for the token once (kept in the tab's sessionStorage, never in the URL), shows the live state with
it, Pause works, and a reload does not ask again; the data itself is refused without the token. A
screenshot is written for a person to look at.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

BIN, OUT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.makedirs(OUT, exist_ok=True)
XSS = "<img src=x onerror=alert(1)>"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
sock = os.path.join(OUT, "s.sock")
base = f"http://127.0.0.1:{port}"


def start_miner(extra=(), url=None):
    log = open(os.path.join(OUT, "miner.log"), "ab")
    p = subprocess.Popen(
        [BIN, "run", "--benchmark-work", "--threads", "1", "--signals", "unix:" + sock, "--http",
         f"127.0.0.1:{port}", "--decision-log", os.path.join(OUT, "decisions.jsonl"), "--breakeven", "50",
         *extra],
        stdout=log, stderr=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url or (base + "/status"), timeout=1).read()
            return p
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the miner did not start serving HTTP")


def signal(message):
    r = subprocess.run([BIN, "signal", "unix:" + sock, json.dumps(message)], capture_output=True, text=True)
    return r.stdout


def wait_text(driver, element_id, pattern, seconds):
    deadline = time.time() + seconds
    text = ""
    while time.time() < deadline:
        text = driver.find_element(By.ID, element_id).text
        if re.search(pattern, text):
            return True, text
        time.sleep(0.05)
    return False, text


miner = start_miner()
page = urllib.request.urlopen(base + "/", timeout=5)
body = page.read()
headers = page.headers
check(len(body) < 100_000, f"page is {len(body)} bytes (< 100 KB)")
check("default-src 'none'" in headers.get("Content-Security-Policy", ""), "served with a strict Content-Security-Policy")

options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
try:
    driver.get(base + "/")
    ok, text = wait_text(driver, "state", r"^mining$", 10)
    check(ok, f'state shows "mining" (got "{text}")')
    ok, text = wait_text(driver, "hashrate", r"H/s", 10)
    check(ok, f"hash rate shown ({text})")
    # The paint entry is recorded once the frame has been presented, which headless Chromium may do
    # after the text is already in the DOM: look again for a few seconds before calling it missing.
    # Chromium also leaves it out for a page loaded while its window counted as hidden (seen once on a
    # loaded CI machine): then the page is loaded once more.
    def first_contentful_paint():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = driver.execute_script(
                "const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');"
                "return p ? p.startTime : null;")
            if found is not None:
                return found
            time.sleep(0.1)
        return None

    paint = first_contentful_paint()
    if paint is None:
        print(f"     no paint entry (visibility {driver.execute_script('return document.visibilityState')}); reloading")
        driver.refresh()
        wait_text(driver, "state", r"^mining$", 10)
        paint = first_contentful_paint()
    # The goal is < 200 ms on loopback; on a shared, loaded CI machine only a gross regression fails.
    print(f"     first contentful paint: {paint} ms (goal < 200 ms)")
    check(paint is not None and paint < 1000, f"first contentful paint {paint} ms (< 1000 ms)")

    # A curtailment over the Unix socket, with HTML in its reason.
    sent = time.time()
    reply = signal({"type": "curtail", "level": 1.0, "id": "drill-7", "reason": XSS})
    check('"halted":true' in reply, "curtail accepted by the miner")
    ok, text = wait_text(driver, "state", r"^curtailed$", 2)
    check(ok, f'state turns "curtailed" within 2 s ({time.time() - sent:.2f} s, got "{text}")')
    ok, text = wait_text(driver, "curtailments", re.escape(XSS), 2)
    check(ok, f"the curtailment's reason is shown literally as text ({text!r})")
    check(len(driver.find_elements(By.CSS_SELECTOR, "img")) == 0, "no <img> element was created from the reason")
    try:
        driver.switch_to.alert
        check(False, "no alert ran")
    except NoAlertPresentException:
        check(True, "no alert ran")
    ok, text = wait_text(driver, "curtailments", r"drill-7", 2)
    check(ok, f"the active curtailment is listed with its id ({text!r})")
    ok, _ = wait_text(driver, "decisions", r"curtail", 3)
    check(ok, "the decision appears in the last decisions")
    driver.save_screenshot(os.path.join(OUT, "dashboard-curtailed.png"))
    signal({"type": "release", "id": "drill-7"})
    ok, text = wait_text(driver, "state", r"^mining$", 2)
    check(ok, f'release turns it back to "mining" ({text})')

    # Pause and Resume buttons (POST /pause and /resume).
    driver.find_element(By.ID, "pause").click()
    ok, text = wait_text(driver, "state", r"^curtailed$", 2)
    check(ok, f"Pause halts the miner ({text})")
    status = json.loads(urllib.request.urlopen(base + "/status", timeout=2).read())
    check(status["halted"] is True, "the miner reports halted after Pause")
    driver.find_element(By.ID, "resume").click()
    ok, text = wait_text(driver, "state", r"^mining$", 2)
    check(ok, f"Resume resumes it ({text})")

    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(not severe, f"no console errors ({severe})")

    # A restart of the miner: the page reconnects by itself (connection errors while it is down are
    # expected in the console).
    miner.terminate()
    miner.wait(timeout=20)
    time.sleep(1.5)
    miner = start_miner()
    ok, text = wait_text(driver, "conn", r"^live", 10)
    check(ok, f"reconnects after a restart of the miner ({text})")
    time.sleep(2)
    driver.save_screenshot(os.path.join(OUT, "dashboard.png"))
finally:
    driver.quit()
    miner.terminate()
    miner.wait(timeout=20)

# A miner with a token: every data request needs it, the page itself loads without it.
TOKEN = "dashboard-test-token-0123456789"
token_path = os.path.join(OUT, "token")
with open(token_path, "w") as f:
    f.write(TOKEN + "\n")
os.chmod(token_path, 0o600)
sock = os.path.join(OUT, "t.sock")
miner = start_miner(["--token-file", token_path], url=base + "/")
try:
    try:
        urllib.request.urlopen(base + "/status", timeout=2)
        check(False, "/status without the token is refused (it answered)")
    except urllib.error.HTTPError as e:
        check(e.code == 401 and e.headers.get("WWW-Authenticate", "").startswith("Bearer"),
              f"/status without the token: 401 with a Bearer challenge (got {e.code})")
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        driver.get(base + "/")
        try:
            WebDriverWait(driver, 10).until(expected_conditions.alert_is_present())
            prompt = driver.switch_to.alert
            check("Token" in prompt.text, f"the page asks for the token ({prompt.text!r})")
            prompt.send_keys(TOKEN)
            prompt.accept()
        except Exception as e:  # noqa: BLE001 - any failure here is the check's
            check(False, f"the page asks for the token ({e!r})")
        ok, text = wait_text(driver, "state", r"^mining$", 10)
        check(ok, f'with the token, state shows "mining" (got "{text}")')
        check(TOKEN not in driver.current_url, "the token is not in the URL")
        check(driver.execute_script("return sessionStorage.getItem('flexminer-token')") == TOKEN,
              "the token is kept in the tab's sessionStorage")
        driver.find_element(By.ID, "pause").click()
        ok, text = wait_text(driver, "state", r"^curtailed$", 3)
        check(ok, f"with the token, Pause halts the miner ({text})")
        driver.find_element(By.ID, "resume").click()
        ok, text = wait_text(driver, "state", r"^mining$", 3)
        check(ok, f"with the token, Resume resumes it ({text})")
        driver.refresh()
        time.sleep(1.5)
        try:
            driver.switch_to.alert
            check(False, "a reload does not ask for the token again (it asked)")
        except NoAlertPresentException:
            ok, text = wait_text(driver, "state", r"^mining$", 5)
            check(ok, f"a reload does not ask for the token again, and shows the state ({text})")
        driver.save_screenshot(os.path.join(OUT, "dashboard-token.png"))
    finally:
        driver.quit()
finally:
    miner.terminate()
    miner.wait(timeout=20)

print(f"screenshots: {OUT}/dashboard.png, {OUT}/dashboard-curtailed.png, {OUT}/dashboard-token.png")
if failures:
    print(f"dashboard test: {len(failures)} check(s) failed")
    sys.exit(1)
print("dashboard test: all checks passed")
