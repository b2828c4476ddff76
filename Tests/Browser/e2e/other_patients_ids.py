"""Scenario 7: one patient's batch and upload, reached for by another patient signed in in another browser with
fetch() from the edge's own pages: every request answers 404 (never 403, which would say the id exists), and the
owner's batch and upload are as they were."""

from common import Browser, api, arguments, load_patient, log, pages, run, save_patient, step

TUS = """
const [method, url, headers, bytes, done] = arguments;
(async () => {
  const session = await (await fetch('/api/session')).json();
  const all = Object.assign({'Tus-Resumable': '1.0.0', 'X-CSRF-Token': session.csrf}, headers);
  let body;
  if (bytes !== null) {
    body = new Uint8Array(bytes);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    all['Upload-Checksum'] = 'sha256 ' + btoa(String.fromCharCode(...digest));
    all['Content-Type'] = 'application/offset+octet-stream';
  }
  const response = await fetch(url, {method, headers: all, body});
  const answer = {status: response.status, headers: {}};
  for (const [name, value] of response.headers) answer.headers[name] = value;
  done(answer);
})().catch((error) => done({status: -1, error: String(error)}));
"""


def options(parser):
    parser.add_argument("--owner", required=True, help="a passkey patient's e-mail (scenario 2)")
    parser.add_argument("--other", required=True, help="another patient's e-mail, with recovery codes left")


def b64(text):
    import base64
    return base64.b64encode(text.encode()).decode()


def tus(driver, method, url, headers=None, data=None):
    return driver.execute_async_script(TUS, method, url, headers or {}, list(data) if data is not None else None)


def main():
    args = arguments(options)
    owner = load_patient(args.work, args.owner)
    other = load_patient(args.work, args.other)
    with Browser(args, "s7-owner", passkeys_of=args.owner) as (first, _):
        pages.sign_in(first, args.base_url, args.owner, owner["password"], passkey=True)
        batch = api(first, "POST", "/api/batches", {"label": "mine"})
        assert batch["status"] == 201, batch
        batch_id = batch["body"]["id"]
        created = tus(first, "POST", "/uploads/", {
            "Upload-Length": "1000", "Upload-Metadata": f"batch {b64(batch_id)},name {b64('DICOM/IM1')},size {b64('1000')}"})
        assert created["status"] == 201, created
        upload = created["headers"]["location"]
        patched = tus(first, "PATCH", upload, {"Upload-Offset": "0"}, bytes(500))
        assert patched["status"] == 204, patched
        step("owner-uploading", batch=batch_id, upload=upload)

        with Browser(args, "s7-other") as (second, shot):
            codes = other["recovery"]
            pages.sign_in(second, args.base_url, args.other, other["password"], recovery_code=codes[0])
            save_patient(args.work, args.other, recovery=codes[1:])
            answers = {
                "GET batch": api(second, "GET", f"/api/batches/{batch_id}")["status"],
                "DELETE batch": api(second, "DELETE", f"/api/batches/{batch_id}")["status"],
                "submit batch": api(second, "POST", f"/api/batches/{batch_id}/submit", {"consent": True, "summary": {"studies": []}})["status"],
                "HEAD upload": tus(second, "HEAD", upload)["status"],
                "PATCH upload": tus(second, "PATCH", upload, {"Upload-Offset": "500"}, bytes(500))["status"],
                "DELETE upload": tus(second, "DELETE", upload)["status"],
                "create in batch": tus(second, "POST", "/uploads/", {
                    "Upload-Length": "10", "Upload-Metadata": f"batch {b64(batch_id)},name {b64('x')},size {b64('10')}"})["status"],
            }
            errors = api(second, "GET", f"/api/batches/{batch_id}")["body"]
            log(f"the other patient's answers: {answers}")
            second.get(f"{args.base_url}/batch.html?id={batch_id}")
            pages.visible(second, "#page-error")
            page_error = pages.find(second, "#page-error").text
            shot("batch-not-found")
            step("other-refused")

        after = api(first, "GET", f"/api/batches/{batch_id}")["body"]
        offset = tus(first, "HEAD", upload)["headers"].get("upload-offset")
        api(first, "DELETE", f"/api/batches/{batch_id}")
    return {"answers": answers, "errorBody": errors, "pageError": page_error, "ownerState": after["state"],
            "ownerUploads": len(after["uploads"]), "ownerOffset": offset}


if __name__ == "__main__":
    run(main)
