"""Scenario 6: while the patient is signed in, a page from another origin (http.server on another port) submits a
form to the edge's API and fetch()es it with the browser's credentials. The edge refuses; nothing changes (no new
batch, still signed in)."""

import http.server
import threading

from common import Browser, api, arguments, load_patient, log, pages, run, save_patient, step

ATTACKS = {
    # A classic CSRF form: text/plain so the body looks like JSON, submitted as soon as the page loads.
    "/form.html": """<!doctype html><html><body>
<form method="POST" action="{edge}/api/batches" enctype="text/plain">
<input type="hidden" name='{{"label":"from another site","x":"' value='"}}'></form>
<script>document.forms[0].submit();</script></body></html>""",
    # fetch() with the patient's cookies asked for (no-cors: a simple request the browser does send).
    "/fetch.html": """<!doctype html><html><body><p id="out">sending</p><script>
const edge = '{edge}';
const sent = [];
async function go() {{
  for (const [path, body] of [['/api/batches', '{{"label":"from another site"}}'], ['/api/signout', '{{}}'],
                              ['/api/batches/00000000-0000-0000-0000-000000000000/submit', '{{"consent":true}}']]) {{
    try {{
      await fetch(edge + path, {{method: 'POST', mode: 'no-cors', credentials: 'include',
                                headers: {{'Content-Type': 'text/plain'}}, body}});
      sent.push(path);
    }} catch (error) {{ sent.push(path + ': ' + error); }}
  }}
  document.querySelector('#out').textContent = 'done ' + sent.join(', ');
}}
go();
</script></body></html>""",
}


def options(parser):
    parser.add_argument("--email", required=True)


def serve_attacks(edge):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            page = ATTACKS.get(self.path)
            body = (page or "not here").format(edge=edge).encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main():
    args = arguments(options)
    patient = load_patient(args.work, args.email)
    server, attacker = serve_attacks(args.base_url)
    with Browser(args, "s6-cross-site") as (driver, shot):
        codes = patient["recovery"]
        pages.sign_in(driver, args.base_url, args.email, patient["password"], recovery_code=codes[0])
        save_patient(args.work, args.email, recovery=codes[1:])
        before = api(driver, "GET", "/api/batches")["body"]["batches"]
        step("signed-in")

        driver.get(attacker + "/form.html")
        pages.wait(driver).until(lambda d: d.current_url.startswith(args.base_url))
        form_answer = driver.find_element("css selector", "body").text
        log(f"the edge answered the form: {form_answer}")
        shot("form-refused", phone=False)

        driver.get(attacker + "/fetch.html")
        pages.wait(driver).until(lambda d: pages.find(d, "#out").text.startswith("done"))
        fetches = pages.find(driver, "#out").text

        driver.get(args.base_url + "/home.html")
        pages.wait(driver).until(lambda d: pages.find(d, "#home-title").text.strip() != "")
        session = api(driver, "GET", "/api/session")["body"]
        after = api(driver, "GET", "/api/batches")["body"]["batches"]
        step("checked")
    server.shutdown()
    return {"formAnswer": form_answer, "fetches": fetches, "stateAfter": session["state"],
            "batchesBefore": len(before), "batchesAfter": len(after)}


if __name__ == "__main__":
    run(main)
