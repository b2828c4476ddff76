"""The staff console in Chromium, as a hospital's administrator and auditor use it (run by ConsoleBrowserTests).

`admin`: enrols from the link `dicom-portal staff add` printed (password, a passkey in Chromium's virtual
authenticator), signs out and in with the passkey, adds an auditor on the staff page (its one-time link handed to
the Swift test), registers and invites a patient, waits while the auditor looks, approves the held upload with a
reason, and once the Swift side saw it delivered reads the analytics (page and API), exports CSV, and looks at the
fleet and the audit (a search by patient, the chain verified, the patient's access report).

`auditor`: enrols (passkey, and an authenticator app as the fallback), signs in with the app's code, opens the held
upload: no decision form, and the API refuses an approval (403) made from the page anyway.

Every page is kept as a screenshot (desktop and phone) under the artefacts directory."""

import time
from pathlib import Path

import pyotp

from common import Shots, api, arguments, console_errors, log, new_driver, pages, run, step, wait_for_go


def options(parser):
    parser.add_argument("role", choices=["admin", "auditor"])
    parser.add_argument("--link", required=True, help="the enrolment link")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--held-batch", required=True, help="the held upload's batch id")
    parser.add_argument("--kiosks", default="", help="comma-separated names of the kiosks that delivered")


class ConsoleShots(Shots):
    """Shots that also measure each page's width on the phone: nothing may scroll sideways at 360 px."""

    def __init__(self, *arguments):
        super().__init__(*arguments)
        self.phone_widths = {}

    def __call__(self, name, phone=True):
        super().__call__(name, phone)
        if phone:
            pages.set_phone(self.driver, True)
            time.sleep(0.2)
            self.phone_widths[name] = self.driver.execute_script("return document.documentElement.scrollWidth")
            pages.set_phone(self.driver, False)
            time.sleep(0.2)


def enrol(driver, shot, link, password, with_totp):
    """The enrolment link: password, passkey, optionally an authenticator app; ends on home.html. Returns the app's
    secret (None without one)."""
    pages.add_virtual_authenticator(driver)
    driver.get(link)
    pages.visible(driver, "#password-step")
    shot("enrol-password")
    pages.type_into(driver, "#password", password)
    pages.type_into(driver, "#confirmation", password)
    pages.find(driver, "#password-form button[type=submit]").click()
    pages.visible(driver, "#passkey-step")
    pages.find(driver, "#passkey-button").click()
    pages.visible(driver, "#finish-step")
    secret = None
    if with_totp:
        pages.find(driver, "#totp-button").click()
        pages.visible(driver, "#totp-setup")
        pages.wait(driver).until(lambda d: pages.find(d, "#totp-secret").text.strip() != "")
        shot("enrol-totp")
        secret = pages.find(driver, "#totp-secret").text.replace(" ", "").strip()
        pages.type_into(driver, "#code", pyotp.TOTP(secret).now())
        pages.find(driver, "#totp-form button[type=submit]").click()
        pages.wait(driver).until(lambda d: pages.find(d, "#totp-state").text.strip() != "")
    pages.find(driver, "#finish-button").click()
    pages.wait_for_path(driver, "/home.html")
    pages.wait(driver).until(lambda d: pages.find(d, "#greeting").text.strip() != "")
    return secret


def sign_out(driver):
    pages.find(driver, "[data-action=sign-out]").click()
    pages.wait_for_path(driver, "/index.html")
    pages.visible(driver, "#password-step")


def sign_in(driver, base_url, username, password, totp_secret=None):
    driver.get(f"{base_url}/")
    pages.visible(driver, "#password-step")
    pages.type_into(driver, "#username", username)
    pages.type_into(driver, "#password", password)
    pages.find(driver, "#password-form button[type=submit]").click()
    pages.visible(driver, "#factor-step")
    if totp_secret:
        # A code of the next period: the enrolment used this period's, and a code is good once.
        time.sleep(30 - time.time() % 30 + 1)
        pages.type_into(driver, "#code", pyotp.TOTP(totp_secret).now())
        pages.find(driver, "#totp-form button[type=submit]").click()
    else:
        pages.find(driver, "#passkey-button").click()
    pages.wait_for_path(driver, "/home.html")
    pages.wait(driver).until(lambda d: pages.find(d, "#greeting").text.strip() != "")


def open_page(driver, base_url, page, ready):
    driver.get(f"{base_url}/{page}")
    pages.wait(driver).until(lambda d: ready(d))


def table_rows(driver, css):
    """Each row of the tables under `css` as its cells' text."""
    return [[cell.text.strip() for cell in row.find_elements("css selector", "th, td")]
            for row in driver.find_elements("css selector", f"{css} tr")]


def admin(args, driver, shot):
    enrol(driver, shot, args.link, args.password, with_totp=False)
    shot("home")
    credentials = driver.get_credentials()
    sign_out(driver)
    shot("sign-in")
    sign_in(driver, args.base_url, args.username, args.password)
    step("admin-signed-in")

    # An auditor, added on the staff page: the link is shown once.
    open_page(driver, args.base_url, "staff.html", lambda d: pages.find(d, "#add-form"))
    pages.type_into(driver, "#new-username", "audrey")
    pages.type_into(driver, "#new-name", "Audrey Auditor")
    pages.type_into(driver, "#new-email", "audrey@hospital.example")
    pages.find(driver, "#new-role option[value=auditor]").click()
    pages.find(driver, "#add-form button[type=submit]").click()
    pages.wait(driver).until(lambda d: pages.find(d, "#link").text.startswith("https://"))
    auditor_link = pages.find(driver, "#link").text.strip()
    shot("staff-added")
    (Path(args.work) / "auditor-link").write_text(auditor_link)
    step("auditor-added")

    # A patient registered with the form and invited from their page.
    open_page(driver, args.base_url, "patients.html", lambda d: pages.find(d, "#register"))
    pages.type_into(driver, "#reg-id", "H900")
    pages.type_into(driver, "#reg-name", "PLUTO^PETER")
    pages.type_into(driver, "#reg-birth", "19770707")
    pages.type_into(driver, "#reg-email", "peter@example.org")
    pages.find(driver, "#register button[type=submit]").click()
    pages.wait(driver).until(lambda d: "Registered" in pages.find(d, "#register-status").text)
    shot("patients")
    pages.find(driver, "#register-status a").click()
    pages.wait(driver).until(lambda d: pages.find(d, "#record").text.strip() != "")
    pages.find(driver, "#invite").click()
    driver.switch_to.alert.accept()
    pages.wait(driver).until(lambda d: pages.find(d, "#action-status").text.strip() != "")
    invited = pages.find(driver, "#action-status").text.strip()
    shot("patient-invited")
    step("invited")

    wait_for_go(args.work, "auditor-done")

    # The held upload: side by side, approved with a reason.
    open_page(driver, args.base_url, "review.html", lambda d: d.find_elements("css selector", f"#queue a[href*='{args.held_batch}']"))
    queue = table_rows(driver, "#queue")
    shot("review-queue")
    pages.find(driver, f"#queue a[href*='{args.held_batch}']").click()
    pages.wait(driver).until(lambda d: d.find_elements("css selector", "#comparison table"))
    comparison = pages.find(driver, "#comparison").text
    shot("review-item")
    pages.find(driver, "#decision-approve").click()
    reason = "Name on the disc is the patient's previous name; identity confirmed by phone"
    pages.type_into(driver, "#reason", reason)
    pages.find(driver, "#decide button[type=submit]").click()
    pages.wait(driver).until(lambda d: "Recorded" in pages.find(d, "#status").text)
    recorded = pages.find(driver, "#status").text
    step("approved", reason=reason)

    wait_for_go(args.work, "delivered")

    # Analytics: the page's tables and the API's numbers, a CSV export through the page's link.
    analytics = api(driver, "GET", "/api/analytics")
    if analytics["status"] != 200:
        raise AssertionError(f"GET /api/analytics answered {analytics['status']}: {analytics['text'][:500]}")
    analytics = analytics["body"]
    open_page(driver, args.base_url, "analytics.html", lambda d: pages.find(d, "#totals").text.strip() != "")
    analytics_page = {"totals": pages.find(driver, "#totals").text, "facilities": table_rows(driver, "#facilities"),
                      "days": table_rows(driver, "#days")}
    # The charts load lazily: each is scrolled into view, then read once the browser has decoded it.
    for image in driver.find_elements("css selector", "#charts img"):
        driver.execute_script("arguments[0].scrollIntoView()", image)
        pages.wait(driver).until(lambda d, i=image: d.execute_script("return arguments[0].complete", i))
    images = driver.execute_script(
        "return [...document.querySelectorAll('#charts img')].map(i => ({src: i.getAttribute('src'), width: i.naturalWidth}))")
    shot("analytics")
    per_kiosk = {name: api(driver, "GET", f"/api/analytics?kiosk={name}")["body"] for name in args.kiosks.split(",") if name}
    portal_only = api(driver, "GET", "/api/analytics?source=portal")["body"]
    csv_links = driver.execute_script("return [...document.querySelectorAll('#exports a')].map(a => a.getAttribute('href'))")
    csv = {}
    for link in csv_links:
        answer = api(driver, "GET", link, csrf=False)
        csv[link] = {"status": answer["status"], "type": answer["headers"].get("content-type", ""), "text": answer["text"]}

    open_page(driver, args.base_url, "fleet.html", lambda d: pages.find(d, "#kiosks").text.strip() != "")
    fleet_page = {"kiosks": table_rows(driver, "#kiosks"), "workers": table_rows(driver, "#workers"), "queue": pages.find(driver, "#queue").text}
    shot("fleet")

    # Audit: the patient's records, the chain verified, their access report.
    open_page(driver, args.base_url, "audit.html", lambda d: pages.find(d, "#filters"))
    shot("audit")
    pages.find(driver, "#verify").click()
    pages.wait(driver).until(lambda d: pages.find(d, "#verify-result").text.strip() not in ("", "Verifying…"))
    verified = pages.find(driver, "#verify-result").text
    shot("audit-verified")
    return {
        "signCountRose": driver.get_credentials()[0].sign_count > credentials[0].sign_count,
        "auditorLink": auditor_link, "invited": invited, "queue": queue, "comparison": comparison, "recorded": recorded,
        "analytics": analytics, "analyticsPerKiosk": per_kiosk, "analyticsPortal": portal_only, "analyticsPage": analytics_page,
        "charts": images, "csv": csv, "fleet": fleet_page, "verified": verified, "consoleErrors": console_errors(driver),
    }


def auditor(args, driver, shot):
    secret = enrol(driver, shot, args.link, args.password, with_totp=True)
    sign_out(driver)
    sign_in(driver, args.base_url, args.username, args.password, totp_secret=secret)
    nav = [link.text for link in driver.find_elements("css selector", "nav a")]
    open_page(driver, args.base_url, f"review-item.html?batch={args.held_batch}",
              lambda d: d.find_elements("css selector", "#comparison table"))
    shot("auditor-review-item")
    decision_shown = pages.find(driver, "#decision").is_displayed()
    refused = api(driver, "POST", f"/api/review/{args.held_batch}/approve", {"reason": "an auditor trying"})
    staff = api(driver, "GET", "/api/staff")
    log(f"auditor's approval answered {refused['status']}")
    return {"nav": nav, "decisionShown": decision_shown, "approveStatus": refused["status"],
            "approveError": (refused["body"] or {}).get("error"), "staffStatus": staff["status"], "consoleErrors": console_errors(driver)}


def main():
    args = arguments(options)
    driver = new_driver(args.base_url)
    shot = ConsoleShots(driver, args.artefacts, f"console-{args.role}")
    try:
        result = admin(args, driver, shot) if args.role == "admin" else auditor(args, driver, shot)
        result["phoneWidths"] = shot.phone_widths
        return result
    except Exception:
        log(f"failed on {driver.current_url}")
        pages.screenshot(driver, args.artefacts, f"console-{args.role}-failure", full_page=False)
        log("page text: " + driver.find_element("css selector", "body").text.replace("\n", " | ")[:2000])
        for message in console_errors(driver):
            log(f"console: {message}")
        raise
    finally:
        driver.quit()


if __name__ == "__main__":
    run(main)
