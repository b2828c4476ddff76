"""Scenario 8: the edge is killed (SIGKILL, by the Swift test when this driver says `STEP progress`) while a file of
~40 MB is being sent (each chunk held back a little so that it is), and started again (go-edge-restarted). The page
is reloaded, the folder picked again: the upload continues from the offset the edge kept, in the same tus upload,
and the batch completes.

Evidence that it did not start over: the edge's Upload-Offset (HEAD) after the restart, the Upload-Offset of every
PATCH the page sent (a fetch wrapper installed through DevTools records them in sessionStorage), and the batch's
uploads (one, the same URL the page kept in localStorage)."""

import json
import time

from common import Browser, api, arguments, console_errors, load_patient, log, pages, run, step, wait_for_go

# Runs before the page's own scripts on every document of the tab (DevTools-injected, so the CSP does not apply):
# records the Upload-Offset of every PATCH in sessionStorage and, while sessionStorage "e2e.slow" is set, holds
# each PATCH back a little so that the upload lasts long enough to be interrupted between 20 and 80 % on any
# machine. (DevTools' upload throttling was tried first: it did not slow fetch() uploads down.)
RECORD_PATCHES = """
(() => {
  const original = window.fetch;
  window.fetch = async function (url, init) {
    if (init && init.method === 'PATCH') {
      const headers = init.headers || {};
      const list = JSON.parse(sessionStorage.getItem('e2e.patches') || '[]');
      list.push({url: String(url), offset: Number(headers['Upload-Offset']), at: Date.now()});
      sessionStorage.setItem('e2e.patches', JSON.stringify(list));
      if (sessionStorage.getItem('e2e.slow')) await new Promise((resolve) => setTimeout(resolve, 400));
    }
    return original.apply(this, arguments);
  };
})();
"""


def options(parser):
    parser.add_argument("--email", required=True)
    parser.add_argument("--folder", required=True)


def slow(driver, on):
    driver.execute_script("if (arguments[0]) sessionStorage.setItem('e2e.slow', '1'); else sessionStorage.removeItem('e2e.slow');", on)


def progress(driver):
    """The percentage the page shows, and its text."""
    return driver.execute_script("""
        const bar = document.querySelector('#send-progress');
        return [bar.max > 1 ? 100 * bar.value / bar.max : 0, document.querySelector('#send-text').textContent];""")


def stored_uploads(driver):
    entries = driver.execute_script(
        "return Object.keys(localStorage).filter((k) => k.startsWith('portal.tus.')).map((k) => localStorage.getItem(k));")
    return [file["uploadURL"] for entry in entries for file in json.loads(entry)["files"]]


def main():
    args = arguments(options)
    patient = load_patient(args.work, args.email)
    with Browser(args, "s8-resume", passkeys_of=args.email) as (driver, shot):
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_PATCHES})
        pages.sign_in(driver, args.base_url, args.email, patient["password"], passkey=True)
        driver.get(args.base_url + "/upload.html")
        pages.visible(driver, "#step-pick")
        shot("pick")
        slow(driver, True)
        pages.find(driver, "#input-folder").send_keys(args.folder)
        pages.wait_for_any(driver, ["#step-review"], 120)
        pages.find(driver, "#consent").click()
        pages.find(driver, "#send").click()
        pages.wait_for_any(driver, ["#step-sending", "#step-stepup"], 60)
        if pages._showing(driver, "#step-stepup"):
            pages.find(driver, "#stepup-passkey-button").click()
        pages.wait_for_any(driver, ["#step-sending"], 60)
        deadline = time.monotonic() + 300
        while True:
            percent, shown = progress(driver)
            if 20 <= percent <= 80:
                break
            if percent > 80 or time.monotonic() > deadline:
                raise AssertionError(f"the upload went past 80 % ({percent:.0f} %) before it could be interrupted")
            time.sleep(0.05)
        step("progress", percent=round(percent), text=shown)
        wait_for_go(args.work, "edge-restarted")
        shot("sending-interrupted")
        batch_id = driver.current_url.split("batch=", 1)[1]
        kept = stored_uploads(driver)
        heads = [api(driver, "HEAD", url, csrf=False, headers={"Tus-Resumable": "1.0.0"}) for url in kept]
        offsets = [int(head["headers"].get("upload-offset", "-1")) for head in heads]
        log(f"after the restart the edge holds {offsets} of {kept}")
        slow(driver, False)

        driver.refresh()
        pages.visible(driver, "#resume-notice")
        shot("resume")
        reloaded_at = driver.execute_script("return performance.timeOrigin;")
        returned = pages.upload_folder(driver, args.folder, base_url=args.base_url, passkey=True,
                                       batch_id=batch_id)
        patches = json.loads(driver.execute_script("return sessionStorage.getItem('e2e.patches') || '[]';"))
        after_reload = [patch for patch in patches if patch["at"] >= reloaded_at]
        batch = api(driver, "GET", f"/api/batches/{batch_id}")["body"]
        step("submitted", batch=batch_id)
        result = pages.wait_for_result(driver, batch_id, timeout=420, base_url=args.base_url)
        shot("result")
        return {"batch": batch_id, "returnedBatch": returned, "progressShown": shown, "percentAtKill": round(percent),
                "kept": kept, "offsetsAfterRestart": offsets,
                "firstOffsetAfterReload": after_reload[0]["offset"] if after_reload else None,
                "patchesAfterReload": len(after_reload), "patchesBefore": len(patches) - len(after_reload),
                "patchOffsets": [patch["offset"] for patch in patches],
                "uploads": [{"id": u["id"], "length": u["length"], "offset": u["offset"]} for u in batch["uploads"]],
                "result": result, "consoleErrors": console_errors(driver)}


if __name__ == "__main__":
    run(main)
