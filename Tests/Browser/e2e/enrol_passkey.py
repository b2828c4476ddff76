"""Scenario 2: a patient enrols with a passkey held by Chromium's virtual authenticator (CTAP2, internal transport,
resident key, user verification), then signs out and in with it. The passkey (its private key) is kept for later
drivers."""

from common import Browser, invitation, arguments, console_errors, pages, run, save_passkeys, save_patient, sign_out, step


def options(parser):
    parser.add_argument("--mail", required=True, help="the invitation e-mail as the relay received it")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--birth-date", required=True, help="YYYY-MM-DD")
    parser.add_argument("--screenshots", action="store_true", help="keep screenshots of the pages")


def main():
    args = arguments(options)
    with Browser(args, "s2-enrol-passkey") as (driver, shot):
        token = invitation(args.mail)[2].split("#token=", 1)[1]
        codes = pages.enrol_with_passkey(driver, args.base_url, token, args.birth_date, args.password)
        save_patient(args.work, args.email, password=args.password, recovery=codes)
        step("enrolled")
        if args.screenshots:
            shot("home")
        credentials = driver.get_credentials()
        sign_out(driver)
        pages.type_into(driver, "#email", args.email)
        pages.type_into(driver, "#password", args.password)
        pages.find(driver, "#password-submit").click()
        pages.wait_for_any(driver, ["#step-factor"])
        if args.screenshots:
            shot("sign-in-passkey")
        pages.find(driver, "#passkey-button").click()
        pages.wait_for_path(driver, "/home.html")
        pages.wait(driver).until(lambda d: pages.find(d, "#home-title").text.strip() != "")
        step("signed-in")
        save_passkeys(driver, args.work, args.email)
        after = driver.get_credentials()
        return {"recoveryCodes": len(codes), "credentials": len(credentials),
                "residentKey": all(c.is_resident_credential for c in credentials),
                "signCountRose": bool(after) and after[0].sign_count > credentials[0].sign_count,
                "home": pages.find(driver, "#home-title").text, "consoleErrors": console_errors(driver)}


if __name__ == "__main__":
    run(main)
