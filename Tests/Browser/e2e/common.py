"""What every patient-portal scenario driver shares: its arguments, the STEP lines the Swift test waits for, a
headless Chromium pinned to the edge's own certificate, screenshots at desktop and phone size, hand-offs with the
Swift side (it writes WORK/go-NAME when a driver may go on), and the patients' second factors kept between drivers
(a TOTP secret, a passkey's private key from Chromium's virtual authenticator) in WORK/patients/EMAIL.json.

Run by Debian's /usr/bin/python3 with PYTHONPATH reaching selenium, pyotp and cryptography; the last line a driver
prints is `RESULT {json}` for the Swift test to check."""

import argparse
import base64
import email
import email.policy
import hashlib
import json
import re
import ssl
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import portal_pages as pages  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from selenium.webdriver.common.virtual_authenticator import Credential  # noqa: E402

HANDOFF_TIMEOUT = 300


def arguments(extra=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True, help="the edge's public origin, https://localhost:PORT")
    parser.add_argument("--work", required=True, type=Path, help="a directory shared with the Swift test")
    parser.add_argument("--artefacts", required=True, type=Path, help="where screenshots go")
    if extra:
        extra(parser)
    return parser.parse_args()


def step(name, **details):
    """A line the Swift test can wait for."""
    suffix = (" " + json.dumps(details, sort_keys=True)) if details else ""
    print(f"STEP {name}{suffix}", flush=True)


def log(text):
    print(f"  {text}", flush=True)


def wait_for_go(work, name, timeout=HANDOFF_TIMEOUT):
    """Waits until the Swift test writes WORK/go-NAME (after it did something to the product: killed the edge,
    unlocked an account)."""
    step(f"waiting {name}")
    marker = Path(work) / f"go-{name}"
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test did not hand over '{name}'")
        time.sleep(0.1)


def invitation(path):
    """The invitation e-mail as the relay received it: (subject, plain text, the enrolment link in it)."""
    message = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https://\S+/enrol\.html#token=[A-Za-z0-9_-]+", text)
    if len(links) != 1:
        raise AssertionError(f"the invitation e-mail holds {len(links)} enrolment links: {text}")
    return str(message["subject"]), text, links[0]


def edge_spki_hash(base_url):
    """Base64 SHA-256 of the public key the edge serves, for Chromium's --ignore-certificate-errors-spki-list: that
    certificate then counts as valid (WebAuthn refuses pages with certificate errors)."""
    host_port = base_url.split("//", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    pem = ssl.get_server_certificate(("127.0.0.1", int(port)))
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def new_driver(base_url, download_dir=None):
    return pages.new_driver(download_dir=download_dir, spki_hashes=[edge_spki_hash(base_url)])


class Shots:
    """Numbered screenshots of each page, desktop (1280×900) and phone (360×740)."""

    def __init__(self, driver, directory, prefix):
        self.driver, self.directory, self.prefix, self.count = driver, Path(directory), prefix, 0

    def __call__(self, name, phone=True):
        self.count += 1
        base = f"{self.prefix}-{self.count:02d}-{name}"
        pages.screenshot(self.driver, self.directory, base + "-desktop")
        if phone:
            pages.set_phone(self.driver, True)
            time.sleep(0.2)  # a layout pass at the new size
            pages.screenshot(self.driver, self.directory, base + "-phone")
            pages.set_phone(self.driver, False)
            time.sleep(0.2)


def patient_file(work, email):
    return Path(work) / "patients" / f"{email}.json"


def save_patient(work, email, **fields):
    path = patient_file(work, email)
    path.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(fields)
    path.write_text(json.dumps(known))


def load_patient(work, email):
    return json.loads(patient_file(work, email).read_text())


def save_passkeys(driver, work, email):
    """The virtual authenticator's credentials (private keys included), so a later driver's Chromium holds the
    same passkey."""
    save_patient(work, email, passkeys=[credential.to_dict() for credential in driver.get_credentials()])


def load_passkeys(driver, work, email):
    pages.add_virtual_authenticator(driver)
    for stored in load_patient(work, email)["passkeys"]:
        driver.add_credential(Credential.from_dict(stored))


def api(driver, method, path, body=None, csrf=True, headers=None):
    """fetch() from the page (same origin, the session cookie and, for a change, the CSRF token from /api/session):
    {status, body}."""
    script = """
        const [method, path, body, withCsrf, extra, done] = arguments;
        (async () => {
          const headers = Object.assign({}, extra);
          if (withCsrf) {
            const session = await (await fetch('/api/session', {credentials: 'same-origin'})).json();
            headers['X-CSRF-Token'] = session.csrf;
          }
          if (body !== null) headers['Content-Type'] = 'application/json';
          const response = await fetch(path, {method, headers, credentials: 'same-origin',
                                              body: body === null ? undefined : JSON.stringify(body)});
          const text = await response.text();
          const answer = {status: response.status, text, headers: {}};
          for (const [name, value] of response.headers) answer.headers[name] = value;
          done(answer);
        })().catch((error) => done({status: -1, text: String(error), headers: {}}));
    """
    answer = driver.execute_async_script(script, method, path, body, csrf, headers or {})
    try:
        answer["body"] = json.loads(answer["text"]) if answer["text"] else None
    except ValueError:
        answer["body"] = None
    return answer


def sign_out(driver):
    pages.find(driver, "[data-action=sign-out]").click()
    pages.wait_for_path(driver, "/")
    pages.visible(driver, "#step-password")


class Browser:
    """A driver for one scenario: `with Browser(args, "name") as (driver, shots):`. On a failure it keeps a
    screenshot and the page's text beside the others; Chromium always quits."""

    def __init__(self, args, prefix, passkeys_of=None):
        self.args, self.prefix, self.passkeys_of = args, prefix, passkeys_of

    def __enter__(self):
        self.driver = new_driver(self.args.base_url)
        if self.passkeys_of:
            load_passkeys(self.driver, self.args.work, self.passkeys_of)
        return self.driver, Shots(self.driver, self.args.artefacts, self.prefix)

    def __exit__(self, kind, error, trace):
        try:
            if self.passkeys_of:
                # Each sign-in raised the passkey's signature counter: the next driver starts from this one.
                save_passkeys(self.driver, self.args.work, self.passkeys_of)
            if error is not None:
                log(f"failed on {self.driver.current_url}")
                pages.screenshot(self.driver, self.args.artefacts, f"{self.prefix}-failure", full_page=False)
                log("page text: " + self.driver.find_element("css selector", "body").text.replace("\n", " | ")[:2000])
                for message in console_errors(self.driver):
                    log(f"console: {message}")
        finally:
            self.driver.quit()
        return False


def run(main):
    """Runs a driver's main() and prints its RESULT (exit 1 with the traceback when it failed)."""
    try:
        result = main()
    except Exception:  # noqa: BLE001 - reported to the Swift test, which fails
        traceback.print_exc()
        print("RESULT " + json.dumps({"error": traceback.format_exc(limit=3)}), flush=True)
        sys.exit(1)
    print("RESULT " + json.dumps(result), flush=True)


def console_errors(driver):
    """The browser console's severe messages (a JS error, a CSP violation), leaving out Chromium's line for each
    answer that was not 2xx (a wrong password answers 401: that is the page working)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE" and "Failed to load resource: the server responded with a status of" not in entry["message"]]
