"""Scenario 1: the invitation's link → birth date → password → authenticator app (TOTP from the secret the page
shows) → recovery codes → home; then sign out and sign in with password + TOTP. Keeps the patient's secret and
codes for later drivers."""

from common import Browser, invitation, arguments, console_errors, log, pages, run, save_patient, sign_out, step


def options(parser):
    parser.add_argument("--mail", required=True, help="the invitation e-mail as the relay received it")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--birth-date", required=True, help="YYYY-MM-DD")


def main():
    args = arguments(options)
    subject, text, link = invitation(args.mail)
    with Browser(args, "s1-enrol-totp") as (driver, shot):
        driver.get(link)
        pages.visible(driver, "#step-birth-date")
        step("birth-date")
        shot("birth-date")
        day, month, year = pages._birth_date_parts(args.birth_date)
        pages.type_into(driver, "#birth-day", day)
        pages.type_into(driver, "#birth-month", month)
        pages.type_into(driver, "#birth-year", year)
        pages.find(driver, "#birth-date-submit").click()
        pages.wait_for_any(driver, ["#step-password"])
        welcome = pages.find(driver, "#password-welcome").text
        step("password")
        shot("password")
        pages.type_into(driver, "#new-password", args.password)
        pages.type_into(driver, "#confirm-password", args.password)
        pages.find(driver, "#password-submit").click()
        pages.wait_for_any(driver, ["#step-second-factor"])
        step("second-factor")
        shot("second-factor")
        pages.find(driver, "#totp-button").click()
        pages.wait_for_any(driver, ["#step-totp"])
        pages.wait(driver).until(lambda d: pages.find(d, "#totp-secret").text.strip() != "")
        shot("totp")
        secret = pages.find(driver, "#totp-secret").text.replace(" ", "")
        qr_drawn = driver.execute_script(
            "const holder = document.querySelector('#qr-holder'); return !!holder.querySelector('svg, canvas, img');")
        pages.type_into(driver, "#totp-code", pages.totp_code(secret))
        pages.find(driver, "#totp-submit").click()
        pages.wait_for_any(driver, ["#step-recovery-codes"])
        step("recovery-codes")
        shot("recovery-codes")
        codes = [item.text.strip() for item in driver.find_elements("css selector", "#recovery-codes li")]
        save_patient(args.work, args.email, password=args.password, totp=secret, recovery=codes)
        pages.find(driver, "#codes-saved").click()
        pages.find(driver, "#codes-submit").click()
        pages.wait_for_path(driver, "/home.html")
        pages.wait(driver).until(lambda d: pages.find(d, "#home-title").text.strip() != "")
        enrolled_home = pages.find(driver, "#home-title").text
        step("home")
        shot("home")

        sign_out(driver)
        shot("sign-in")
        pages.type_into(driver, "#email", args.email)
        pages.type_into(driver, "#password", args.password)
        pages.find(driver, "#password-submit").click()
        pages.wait_for_any(driver, ["#step-factor"])
        shot("sign-in-factor")
        log("waiting for the next TOTP window (the enrolment's code cannot be used again)")
        pages.type_into(driver, "#totp-code", pages.totp_code(secret))
        pages.find(driver, "#totp-submit").click()
        pages.wait_for_path(driver, "/home.html")
        pages.wait(driver).until(lambda d: pages.find(d, "#home-title").text.strip() != "")
        step("signed-in")
        return {"subject": subject, "mailText": text, "link": link, "welcome": welcome, "qrDrawn": qr_drawn, "recoveryCodes": len(codes), "secretLength": len(secret),
                "homeAfterEnrolment": enrolled_home, "homeAfterSignIn": pages.find(driver, "#home-title").text,
                "consoleErrors": console_errors(driver)}


if __name__ == "__main__":
    run(main)
