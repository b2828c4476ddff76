"""Scenarios 3, 4 and 9: the patient (a passkey patient) sends folders through the folder picker, one batch each —
what the review table shows (studies, the flag on another patient's study and whether it is ticked, what is left
out), consent, step-up if asked — then, once all are sent, waits for each result page (the hospital's verdict,
the receipt code). Sending them one after the other lets the back end check one while the next is sent.

    --folder NAME:PATH:TICK   TICK is "matching" (leave the page's choice: another patient's study stays unticked)
                              or "all" (the patient ticks every study, also one flagged as somebody else's)"""

import time

from selenium.webdriver.common.by import By

from common import Browser, api, arguments, console_errors, load_patient, log, pages, run, step


def options(parser):
    parser.add_argument("--email", required=True)
    parser.add_argument("--folder", action="append", required=True)


def review(driver, shot, name, seen):
    """What the review step shows, before anything is ticked."""
    rows = []
    for row in driver.find_elements(By.CSS_SELECTOR, "#study-rows tr"):
        box = row.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        flags = [flag.text for flag in row.find_elements(By.CSS_SELECTOR, ".flag")]
        rows.append({"text": row.text, "ticked": box.is_selected(), "flagged": "flagged" in (row.get_attribute("class") or ""),
                     "flag": " ".join(flags)})
    left_out = [item.get_attribute("textContent") for item in driver.find_elements(By.CSS_SELECTOR, "#left-out li")]
    if left_out:
        pages.find(driver, "#left-out-summary").click()  # open the list for the screenshot
    seen["review"] = {"rows": rows, "leftOut": left_out, "summary": pages.find(driver, "#review-summary").text}
    shot(f"{name}-review")


def main():
    args = arguments(options)
    patient = load_patient(args.work, args.email)
    outcomes = {}
    with Browser(args, "s3-upload", passkeys_of=args.email) as (driver, shot):
        pages.sign_in(driver, args.base_url, args.email, patient["password"], passkey=True)
        step("signed-in")
        for spec in args.folder:
            name, folder, policy = spec.split(":")
            seen = {"stepUp": False}

            def on_page(page, name=name, seen=seen):
                if page == "review":
                    review(driver, shot, name, seen)
                else:
                    seen["stepUp"] = True
                    shot(f"{name}-step-up")

            def as_the_page_chose(text, seen=seen):
                return next(row["ticked"] for row in seen["review"]["rows"] if row["text"] == text)

            tick = pages.all_studies if policy == "all" else as_the_page_chose
            batch_id = pages.upload_folder(driver, folder, tick=tick, base_url=args.base_url, passkey=True, on_page=on_page)
            uploaded = api(driver, "GET", f"/api/batches/{batch_id}")["body"]
            seen["batch"] = batch_id
            seen["uploads"] = sorted(upload["name"] for upload in uploaded["uploads"])
            seen["submittedState"] = uploaded["state"]
            outcomes[name] = seen
            step("submitted", folder=name, batch=batch_id)
            log(f"{name}: batch {batch_id} with {len(seen['uploads'])} files")
        for name, seen in outcomes.items():
            started = time.monotonic()
            seen["result"] = pages.wait_for_result(driver, seen["batch"], timeout=420, base_url=args.base_url)
            log(f"{name}: result after {time.monotonic() - started:.0f} s: {seen['result']['state']}")
            shot(f"{name}-result")
            step("result", folder=name)
        driver.get(args.base_url + "/home.html")
        pages.wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#batches li")) >= len(args.folder))
        outcomes["homeList"] = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#batches li")]
        shot("home-batches")
        outcomes["consoleErrors"] = console_errors(driver)
    return outcomes


if __name__ == "__main__":
    run(main)
