"""Scenario 5 (the patient of scenario 1): wrong passwords are slowed down and the page says how long to wait; five
wrong codes lock the account; a recovery code gets the patient back in; locked again, the hospital's
`dicom-portal patient unlock` (the Swift test runs it when this driver says `STEP locked-again`, then writes
go-unlocked) lets the patient sign in with the authenticator app again."""

import time

import pyotp
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

from common import Browser, arguments, console_errors, load_patient, log, pages, run, save_patient, sign_out, step, wait_for_go

MAX_WRONG_PASSWORDS = 12


def options(parser):
    parser.add_argument("--email", required=True)


def answer(driver, button, success):
    """Clicks `button` and waits for the page's answer: "ok" when `success` (a CSS selector that shows, or a path
    the page goes to) holds, else the error text."""
    pages.find(driver, button).click()
    deadline = time.monotonic() + pages.TIMEOUT
    while time.monotonic() < deadline:
        try:
            if success and (success in driver.current_url if success.startswith("/") else pages._showing(driver, success)):
                return "ok"
            if pages.find(driver, button).get_attribute("aria-busy") != "true":
                error = pages.visible_error(driver)
                if error:
                    return error
        except (StaleElementReferenceException, NoSuchElementException):
            pass  # the page is going elsewhere
        time.sleep(0.1)
    raise TimeoutError(f"no answer to {button}")


def password_attempt(driver, email, password):
    """Submits the sign-in form; returns "factor" or the error text the page shows."""
    pages.type_into(driver, "#email", email)
    pages.type_into(driver, "#password", password)
    outcome = answer(driver, "#password-submit", "#step-factor")
    return "factor" if outcome == "ok" else outcome


def wrong_code(secret):
    """Six digits no window the edge accepts would produce."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + 30 * drift) for drift in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def lock(driver, secret, shot=None):
    """Five wrong codes; returns the messages shown after each."""
    messages = []
    for attempt in range(5):
        pages.type_into(driver, "#totp-code", wrong_code(secret))
        messages.append(answer(driver, "#totp-submit", None))
        log(f"wrong code {attempt + 1}: {messages[-1]}")
    if shot:
        shot("locked")
    return messages


def main():
    args = arguments(options)
    patient = load_patient(args.work, args.email)
    with Browser(args, "s5-brute-force") as (driver, shot):
        driver.get(args.base_url + "/")
        pages.visible(driver, "#step-password")
        answers = []
        for _ in range(MAX_WRONG_PASSWORDS):
            answers.append(password_attempt(driver, args.email, "not my password at all"))
            log(f"wrong password: {answers[-1]}")
            if "wait" in answers[-1].lower():
                break
        throttled = answers[-1]
        step("throttled")
        shot("throttled")
        # The right password is refused while the wait lasts, and taken once it is over.
        deadline = time.monotonic() + 120
        while True:
            outcome = password_attempt(driver, args.email, patient["password"])
            if outcome == "factor":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the right password is still refused: {outcome}")
            time.sleep(2)
        messages = lock(driver, patient["totp"], shot)
        step("locked")
        # Even the right code is refused now.
        # (not through pages.totp_code: a locked account never uses the code up)
        pages.type_into(driver, "#totp-code", pyotp.TOTP(patient["totp"]).now())
        locked_right_code = answer(driver, "#totp-submit", None)
        codes = patient["recovery"]
        pages.find(driver, "#recovery-show").click()
        pages.type_into(driver, "#recovery-code", codes[0])
        pages.find(driver, "#recovery-submit").click()
        pages.wait_for_any(driver, ["#step-codes-left"])
        codes_left = pages.find(driver, "#codes-left-text").text
        shot("codes-left")
        pages.find(driver, "#codes-left-continue").click()
        pages.wait_for_path(driver, "/home.html")
        step("recovered")
        save_patient(args.work, args.email, recovery=codes[1:])

        sign_out(driver)
        assert password_attempt(driver, args.email, patient["password"]) == "factor"
        lock(driver, patient["totp"])
        step("locked-again")
        wait_for_go(args.work, "unlocked")
        # Core passes the unlock on at its next poll: the patient may have to try more than once.
        deadline = time.monotonic() + 120
        while True:
            sign_out_if_needed(driver, args.base_url)
            assert password_attempt(driver, args.email, patient["password"]) == "factor"
            pages.type_into(driver, "#totp-code", pages.totp_code(patient["totp"]))
            outcome = answer(driver, "#totp-submit", "/home.html")
            if outcome == "ok":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"still locked after the unlock: {outcome}")
            log(f"not yet unlocked: {outcome}")
            time.sleep(2)
        step("unlocked")
        return {"wrongPasswordAnswers": answers, "throttled": throttled, "lockMessages": messages,
                "lockedRightCode": locked_right_code, "codesLeft": codes_left, "consoleErrors": console_errors(driver)}


def sign_out_if_needed(driver, base_url):
    """Back to an empty sign-in form (a session left waiting for its second factor is forgotten)."""
    driver.delete_all_cookies()
    driver.get(base_url + "/")
    pages.visible(driver, "#step-password")


if __name__ == "__main__":
    run(main)
