"""Page objects for the patient portal, for end-to-end tests against the real edge. Headless Debian
Chromium through /usr/bin/chromedriver; Selenium Manager never downloads anything (SE_OFFLINE)."""

import base64
import os
import time
from pathlib import Path

os.environ["SE_OFFLINE"] = "true"

import pyotp  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.common.virtual_authenticator import Protocol, Transport, VirtualAuthenticatorOptions  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (360, 740)
TIMEOUT = 30


def new_driver(download_dir=None, phone=False, spki_hashes=None):
    """Headless Chromium. Certificate errors are ignored, but the browser can reach no host other
    than 127.0.0.1 and localhost, so that only ever applies to the edge under test. With spki_hashes
    (base64 SHA-256 of the edge certificate's public key) only that certificate is accepted instead.
    Passkeys need a host name: WebAuthn refuses IP addresses as relying party IDs, so tests of
    passkeys use https://localhost:PORT (with the edge's RP ID "localhost")."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-background-networking", "--disable-sync",
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
                     "--lang=en-GB"):
        options.add_argument(argument)
    if spki_hashes:
        options.add_argument("--ignore-certificate-errors-spki-list=" + ",".join(spki_hashes))
    else:
        options.add_argument("--ignore-certificate-errors")
    width, height = DESKTOP
    options.add_argument(f"--window-size={width},{height}")
    if download_dir:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    set_phone(driver, phone)
    return driver


def set_phone(driver, phone=True):
    """Lays pages out as on a 360×740 phone (touch, overlay scrollbars) or back as on the desktop."""
    if phone:
        width, height = PHONE
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        driver.set_window_size(*DESKTOP)


def wait(driver, timeout=TIMEOUT):
    return WebDriverWait(driver, timeout)


def visible(driver, css, timeout=TIMEOUT):
    return wait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def find(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css)


def type_into(driver, css, text):
    element = find(driver, css)
    element.clear()
    element.send_keys(text)


def _gone(error):
    """Whether a WebDriver error says the element left the page (it navigated or re-rendered meanwhile)."""
    return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)


def visible_error(driver):
    """The text of whichever error message is showing, or None."""
    for element in driver.find_elements(By.CSS_SELECTOR, ".error[role=alert], .field-error"):
        try:
            if element.is_displayed() and element.text.strip():
                return element.text.strip()
        except WebDriverException as error:
            if not _gone(error):
                raise
            continue  # the page changed under us; the next look sees the new one
    return None


def wait_for_any(driver, selectors, timeout=TIMEOUT):
    """Waits until one of the selectors is visible or an error shows; returns the selector or raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for css in selectors:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                try:
                    if element.is_displayed():
                        return css
                except WebDriverException as error:
                    if not _gone(error):
                        raise
                    continue
        error = visible_error(driver)
        if error:
            raise AssertionError(f"page shows an error: {error}")
        time.sleep(0.1)
    raise TimeoutError(f"none of {selectors} appeared on {driver.current_url}")


def wait_for_path(driver, path, timeout=TIMEOUT):
    def arrived(d):
        error = visible_error(d)
        if error:
            raise AssertionError(f"page shows an error: {error}")
        return path in d.current_url
    wait(driver, timeout).until(arrived)


# TOTP codes: the edge refuses a step used before (second-factor.replayed) but accepts the next 30-second
# window's code too (clock drift), so a secret used in this window gets the next window's code; only a
# third use within one window waits.
_last_totp_step = {}


def totp_code(secret):
    totp = pyotp.TOTP(secret)
    while True:
        step = int(time.time() // 30)
        chosen = max(step, _last_totp_step.get(secret, -1) + 1)
        if chosen <= step + 1:
            _last_totp_step[secret] = chosen
            return totp.at(chosen * 30)
        time.sleep(max(0.1, (chosen - 1) * 30 - time.time() + 0.5))


def adopt_session(driver, origin, cookie):
    """Gives the browser a session the edge issued to another client (as if the patient had signed in in
    this browser): the __Host-session cookie for origin, set through the DevTools protocol."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.setCookie", {"name": "__Host-session", "value": cookie, "url": origin + "/",
                                                 "path": "/", "secure": True, "httpOnly": True, "sameSite": "Strict"})


def browser_session(driver, origin):
    """The browser's current session cookie for origin (to look at the same session over HTTP)."""
    cookies = driver.execute_cdp_cmd("Network.getCookies", {"urls": [origin + "/"]})["cookies"]
    return next((cookie["value"] for cookie in cookies if cookie["name"] == "__Host-session"), None)


def skew_clock(driver, seconds):
    """Makes the pages' clock (Date) run `seconds` ahead from the next page load on, as on a patient's
    computer whose clock is fast; 0 puts it right again."""
    if getattr(driver, "clock_script", None):
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": driver.clock_script})
        driver.clock_script = None
    if seconds:
        source = ("(() => { const skew = %d; const Real = Date;"
                  " class Skewed extends Real { constructor(...a) { super(...(a.length ? a : [Real.now() + skew])); } }"
                  " Skewed.now = () => Real.now() + skew; globalThis.Date = Skewed; })();" % int(seconds * 1000))
        driver.clock_script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"]


def _birth_date_parts(birth_date):
    digits = birth_date.replace("-", "")
    return digits[6:8], digits[4:6], digits[0:4]


def _enrol_to_second_factor(driver, base_url, token, birth_date, password):
    driver.get(f"{base_url}/enrol.html#token={token}")
    visible(driver, "#step-birth-date")
    day, month, year = _birth_date_parts(birth_date)
    type_into(driver, "#birth-day", day)
    type_into(driver, "#birth-month", month)
    type_into(driver, "#birth-year", year)
    find(driver, "#birth-date-submit").click()
    wait_for_any(driver, ["#step-password"])
    type_into(driver, "#new-password", password)
    type_into(driver, "#confirm-password", password)
    find(driver, "#password-submit").click()
    wait_for_any(driver, ["#step-second-factor"])


def _finish_with_codes(driver):
    wait_for_any(driver, ["#step-recovery-codes"])
    codes = [item.text.strip() for item in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    find(driver, "#codes-saved").click()
    find(driver, "#codes-submit").click()
    wait_for_path(driver, "/home.html")
    return codes


def enrol_with_totp(driver, base_url, token, birth_date, password):
    """Enrols from an invitation token with an authenticator app. Returns (secret, recovery_codes)."""
    _enrol_to_second_factor(driver, base_url, token, birth_date, password)
    find(driver, "#totp-button").click()
    wait_for_any(driver, ["#step-totp"])
    secret = find(driver, "#totp-secret").text.replace(" ", "")
    type_into(driver, "#totp-code", totp_code(secret))
    find(driver, "#totp-submit").click()
    return secret, _finish_with_codes(driver)


def add_virtual_authenticator(driver):
    options = VirtualAuthenticatorOptions()
    options.protocol = Protocol.CTAP2
    options.transport = Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    options.is_user_consenting = True
    driver.add_virtual_authenticator(options)
    return driver.virtual_authenticator_id


def enrol_with_passkey(driver, base_url, token, birth_date, password):
    """Enrols with a passkey held by Chromium's virtual authenticator (added if the driver has none;
    it stays on the driver for sign_in(passkey=True)). Returns the recovery codes."""
    if not getattr(driver, "virtual_authenticator_id", None):
        add_virtual_authenticator(driver)
    _enrol_to_second_factor(driver, base_url, token, birth_date, password)
    find(driver, "#passkey-button").click()
    return _finish_with_codes(driver)


def sign_in(driver, base_url, email, password, totp_secret=None, recovery_code=None, passkey=False):
    """Signs in with password and one second factor; ends on home.html."""
    driver.get(f"{base_url}/")
    visible(driver, "#step-password")
    type_into(driver, "#email", email)
    type_into(driver, "#password", password)
    find(driver, "#password-submit").click()
    wait_for_any(driver, ["#step-factor"])
    if totp_secret:
        type_into(driver, "#totp-code", totp_code(totp_secret))
        find(driver, "#totp-submit").click()
    elif recovery_code:
        find(driver, "#recovery-show").click()
        type_into(driver, "#recovery-code", recovery_code)
        find(driver, "#recovery-submit").click()
        if wait_for_any(driver, ["#step-codes-left", "#home-title"]) == "#step-codes-left":
            find(driver, "#codes-left-continue").click()
    elif passkey:
        find(driver, "#passkey-button").click()
    else:
        raise ValueError("sign_in needs totp_secret, recovery_code or passkey=True")
    wait_for_path(driver, "/home.html")
    wait(driver).until(lambda d: find(d, "#home-title").text.strip() != "")


def _showing(driver, css):
    """Whether css is on the page and visible (the page may have moved on to another)."""
    try:
        return any(element.is_displayed() for element in driver.find_elements(By.CSS_SELECTOR, css))
    except WebDriverException as error:
        if not _gone(error):
            raise
        return False


def all_studies(_text):
    return True


def upload_folder(driver, folder, tick=all_studies, base_url=None, totp_secret=None, passkey=False, timeout=300,
                  batch_id=None, on_page=None):
    """Sends a folder from upload.html: picks it, ticks the studies for which tick(row_text) is true,
    gives consent, confirms the second factor if asked, waits for the result page. Returns the batch
    id. Opens upload.html on base_url (else on the current origin) unless the page is already waiting
    for a pick there (as after "Continue sending"); batch_id continues that open batch. on_page(name), if
    given, is called when the review ("review", before anything is ticked) and the step-up ("step-up") show,
    e.g. for screenshots or to look at what the page says."""
    origin = base_url or "/".join(driver.current_url.split("/", 3)[:3])
    if batch_id:
        driver.get(f"{origin}/upload.html?batch={batch_id}")
    elif base_url or "/upload.html" not in driver.current_url or not _showing(driver, "#step-pick"):
        driver.get(f"{origin}/upload.html")
    visible(driver, "#step-pick")
    find(driver, "#input-folder").send_keys(str(Path(folder).resolve()))
    wait_for_any(driver, ["#step-review"], timeout)
    if on_page:
        on_page("review")
    for row in driver.find_elements(By.CSS_SELECTOR, "#study-rows tr"):
        box = row.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        if box.is_selected() != bool(tick(row.text)):
            box.click()
    consent = find(driver, "#consent")
    if not consent.is_selected():
        consent.click()
    find(driver, "#send").click()
    deadline = time.monotonic() + timeout
    while "/batch.html" not in driver.current_url:
        if time.monotonic() > deadline:
            raise TimeoutError("the upload did not finish")
        if _showing(driver, "#step-stepup"):
            if on_page:
                on_page("step-up")
            if totp_secret:
                type_into(driver, "#stepup-code", totp_code(totp_secret))
                find(driver, "#stepup-submit").click()
            elif passkey:
                find(driver, "#stepup-passkey-button").click()
            else:
                raise ValueError("the edge asks for a step-up: pass totp_secret or passkey=True")
            wait(driver, 30).until(lambda d: not _showing(d, "#step-stepup") or visible_error(d))
            error = visible_error(driver)
            if error:
                raise AssertionError(f"step-up failed: {error}")
        error = visible_error(driver)
        if error:
            raise AssertionError(f"upload failed: {error}")
        time.sleep(0.2)
    return driver.current_url.split("id=", 1)[1].split("&")[0]


def wait_for_result(driver, batch_id, timeout=300, base_url=None):
    """Opens the result page and waits until the hospital's result is shown (the page refreshes
    itself). Returns {state, receiptCode, reachedHospital, summary, studies: [[cells]], leftOut: [...]}."""
    if base_url or f"/batch.html?id={batch_id}" not in driver.current_url:
        origin = base_url or "/".join(driver.current_url.split("/", 3)[:3])
        driver.get(f"{origin}/batch.html?id={batch_id}")
    visible(driver, "#batch-state")
    wait(driver, timeout).until(lambda d: find(d, "#result").is_displayed())
    rows = [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
            for row in driver.find_elements(By.CSS_SELECTOR, "#result-rows tr")]
    return {
        "state": find(driver, "#batch-state").text,
        "receiptCode": find(driver, "#receipt-code").text,
        "reachedHospital": find(driver, "#reached").text,
        "summary": find(driver, "#result-summary").text,
        "studies": rows,
        "leftOut": [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#left-out li")],
    }


def screenshot(driver, directory, name, full_page=True):
    """Saves a PNG of the page (the whole page height by default) as directory/name.png."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    if full_page:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        driver.save_screenshot(str(path))
    return path
