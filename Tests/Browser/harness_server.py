"""Serves the portal's Web/ folder, the test harness and fixtures on a loopback port, with the
edge's Content-Security-Policy, plus a small stand-in for the edge's JSON API and tus endpoint so
pages can be rendered and the tus client exercised in the browser. The real edge is tested by the
lead's end-to-end test; this stand-in only has to speak the contract (edge-api.md)."""

import base64
import hashlib
import json
import mimetypes
import os
import re
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WEB = REPO / "Sources" / "Portal" / "PortalEdge" / "Web"
HARNESS = HERE / "harness"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "worker-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".json": "application/json; charset=utf-8",
         ".svg": "image/svg+xml"}


def signed_in_session(**overrides):
    session = {
        "state": "signed-in", "csrf": "csrf-1", "enrolment": None,
        "patient": {"displayName": "Jane Doe", "name": "DOE^JANE", "birthDate": "19700101", "email": "jane@example.org"},
        "methods": ["totp", "passkey", "recovery"], "stepUpValidUntil": None, "idleTimeout": 900,
        "absoluteExpiresAt": None,
        "limits": {"maxBytes": 4 * 1024 ** 3, "maxFiles": 20000, "maxOpenUploads": 3, "chunkSize": 8 * 1024 * 1024},
    }
    session.update(overrides)
    return session


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Stub:
    """The stand-in edge's state; tests change it directly."""

    def __init__(self):
        self.lock = threading.Lock()
        self.session = {"state": "anonymous", "csrf": "csrf-0", "enrolment": None, "patient": None,
                        "methods": None, "stepUpValidUntil": None, "idleTimeout": 900,
                        "absoluteExpiresAt": None, "limits": None}
        self.batches = {}
        self.uploads = {}
        self.requests = []
        self.submitted = {}
        # Fault injection for the tus client: statuses to answer the next PATCHes with, and
        # PATCHes to cut off after reading (a dropped connection).
        self.patch_faults = []
        self.patch_delay = 0.0
        self.stop_after_bytes = None
        self.totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        self.challenge = None
        self.credential_ids = []

    def new_batch(self, state="open", result=None, label=None):
        batch_id = str(uuid.uuid4())
        self.batches[batch_id] = {"id": batch_id, "state": state, "createdAt": "2026-12-01T10:00:00Z",
                                  "submittedAt": None if state == "open" else "2026-12-01T10:20:00Z",
                                  "label": label, "result": result}
        return batch_id


class Handler(BaseHTTPRequestHandler):
    server_version = "harness"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def stub(self):
        return self.server.stub

    def send(self, status, body=b"", content_type=None, headers=None):
        self.send_response(status)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def json(self, status, value, headers=None):
        self.send(status, json.dumps(value).encode(), "application/json; charset=utf-8", headers)

    def error(self, status, code, message="error"):
        self.json(status, {"error": code, "message": message})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # Static files ---------------------------------------------------------------------------
    def static(self, root, relative):
        root = root.resolve()
        target = (root / relative).resolve()
        if root not in target.parents and target != root or not target.is_file():
            return self.error(404, "not-found")
        data = target.read_bytes()
        content_type = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self.send(200, data, content_type)

    def do_GET(self):
        path = self.path.split("?")[0]
        self.stub.requests.append(("GET", path, dict(self.headers)))
        if path.startswith("/api/"):
            return self.api("GET", path)
        if path.startswith("/harness/"):
            return self.static(HARNESS, path[len("/harness/"):])
        if path.startswith("/fixtures/"):
            return self.static(Path(self.server.fixtures), path[len("/fixtures/"):])
        if path == "/":
            path = "/index.html"
        return self.static(WEB, path.lstrip("/"))

    def do_HEAD(self):
        path = self.path.split("?")[0]
        if path.startswith("/uploads/"):
            return self.tus_head(path)
        self.send(405)

    def do_POST(self):
        path = self.path.split("?")[0]
        self.stub.requests.append(("POST", path, dict(self.headers)))
        if path == "/uploads/":
            return self.tus_create()
        if self.headers.get("X-CSRF-Token") != self.stub.session.get("csrf"):
            self.body()
            return self.error(403, "csrf")
        return self.api("POST", path)

    def do_DELETE(self):
        path = self.path.split("?")[0]
        match = re.fullmatch(r"/api/batches/([0-9a-f-]+)", path)
        if match and match.group(1) in self.stub.batches:
            del self.stub.batches[match.group(1)]
            return self.send(204)
        self.error(404, "not-found")

    def do_PATCH(self):
        return self.tus_patch(self.path.split("?")[0])

    # API stand-in -----------------------------------------------------------------------------
    def rotate(self, **changes):
        session = self.stub.session
        session["csrf"] = "csrf-" + uuid.uuid4().hex[:8]
        session.update(changes)
        return session["csrf"]

    def api(self, method, path):
        stub = self.stub
        raw = self.body() if method == "POST" else b""
        payload = json.loads(raw or b"{}")
        if path == "/api/session":
            return self.json(200, stub.session)
        if path == "/api/signout":
            stub.session = Stub().session
            return self.send(204)
        if path == "/api/signin/password":
            if payload.get("password") != "correct horse battery":
                return self.error(401, "signin.failed")
            methods = ["totp", "passkey", "recovery"] if stub.credential_ids else ["totp", "recovery"]
            csrf = self.rotate(state="second-factor", methods=methods)
            return self.json(200, {"csrf": csrf, "state": "second-factor", "methods": methods})
        if path in ("/api/signin/totp", "/api/signin/recovery"):
            if payload.get("code") in ("000000",):
                return self.error(401, "second-factor.failed")
            signed = signed_in_session()
            csrf = self.rotate(**{k: v for k, v in signed.items() if k != "csrf"})
            body = {"csrf": csrf, "state": "signed-in"}
            if path.endswith("recovery"):
                body["recoveryCodesLeft"] = 7
            return self.json(200, body)
        if path == "/api/step-up/totp":
            stub.session["stepUpValidUntil"] = "2099-01-01T00:00:00Z"
            return self.json(200, {"csrf": self.rotate(), "stepUpValidUntil": "2099-01-01T00:00:00Z"})
        if path == "/api/enrol/start":
            if not re.fullmatch(r"[A-Za-z0-9_-]{22}", payload.get("token", "")):
                return self.error(404, "invitation.invalid")
            csrf = self.rotate(state="enrolling", enrolment={"step": "birth-date"})
            return self.json(200, {"csrf": csrf, "enrolment": {"step": "birth-date"}})
        if path == "/api/enrol/birth-date":
            if payload.get("birthDate") != "1970-01-01":
                return self.error(400, "birth-date.mismatch")
            patient = signed_in_session()["patient"]
            csrf = self.rotate(enrolment={"step": "password"}, patient=patient)
            return self.json(200, {"csrf": csrf, "enrolment": {"step": "password"}, "patient": patient})
        if path == "/api/enrol/password":
            if len(payload.get("password", "")) < 12:
                return self.json(400, {"error": "password.too-short", "message": "too short",
                                       "fields": {"password": "password.too-short"}})
            stub.session["enrolment"] = {"step": "second-factor"}
            return self.json(200, {"enrolment": {"step": "second-factor"}})
        if path == "/api/enrol/totp/begin":
            uri = f"otpauth://totp/Hospital:jane%40example.org?secret={stub.totp_secret}&issuer=Hospital"
            return self.json(200, {"secret": stub.totp_secret, "uri": uri})
        if path == "/api/enrol/passkey/finish":
            problem = self.check_client_data(payload, "webauthn.create")
            if problem or not payload.get("response", {}).get("attestationObject"):
                return self.error(400, "passkey.failed", problem or "no attestation")
            stub.credential_ids.append(payload["rawId"])
        if path in ("/api/enrol/totp/finish", "/api/enrol/passkey/finish"):
            csrf = self.rotate(enrolment={"step": "recovery-codes"})
            codes = [f"{i:04d}-abcd-efgh" for i in range(10)]
            return self.json(200, {"csrf": csrf, "enrolment": {"step": "recovery-codes"}, "recoveryCodes": codes})
        if path in ("/api/enrol/passkey/begin", "/api/signin/passkey/begin", "/api/step-up/passkey/begin"):
            return self.json(200, {"publicKey": self.passkey_options(path.startswith("/api/enrol"))})
        if path in ("/api/signin/passkey/finish", "/api/step-up/passkey/finish"):
            problem = self.check_client_data(payload, "webauthn.get")
            if problem:
                return self.error(400, "passkey.failed", problem)
            if path.startswith("/api/step-up"):
                stub.session["stepUpValidUntil"] = "2099-01-01T00:00:00Z"
                return self.json(200, {"csrf": self.rotate(), "stepUpValidUntil": "2099-01-01T00:00:00Z"})
            signed = signed_in_session()
            csrf = self.rotate(**{k: v for k, v in signed.items() if k != "csrf"})
            return self.json(200, {"csrf": csrf, "state": "signed-in"})
        if path == "/api/enrol/done":
            signed = signed_in_session()
            csrf = self.rotate(**{k: v for k, v in signed.items() if k != "csrf"})
            return self.json(200, {"csrf": csrf, "state": "signed-in"})
        if path == "/api/batches" and method == "GET":
            listed = [{"id": b["id"], "state": b["state"], "createdAt": b["createdAt"], "submittedAt": b["submittedAt"],
                       "label": b["label"], "files": 12, "bytes": 6_300_000} for b in stub.batches.values()]
            return self.json(200, {"batches": listed})
        if path == "/api/batches" and method == "POST":
            batch_id = stub.new_batch()
            return self.json(201, {"id": batch_id, "state": "open"})
        match = re.fullmatch(r"/api/batches/([0-9a-f-]+)(/submit)?", path)
        if match:
            batch = stub.batches.get(match.group(1))
            if batch is None:
                return self.error(404, "batch.not-found")
            if match.group(2):
                if not payload.get("consent"):
                    return self.error(400, "consent.required")
                incomplete = [u for u in stub.uploads.values() if u["batch"] == batch["id"] and u["offset"] != u["length"]]
                if incomplete:
                    return self.error(409, "batch.incomplete")
                batch["state"] = "submitted"
                batch["submittedAt"] = "2026-12-01T10:20:00Z"
                stub.submitted[batch["id"]] = payload["summary"]
                return self.json(200, {"state": "submitted"})
            uploads = [{"id": uid, "name": u["name"], "length": u["length"], "offset": u["offset"]}
                       for uid, u in stub.uploads.items() if u["batch"] == batch["id"]]
            return self.json(200, {**batch, "uploads": uploads})
        return self.error(404, "not-found")

    def passkey_options(self, creation):
        """WebAuthn options as the edge sends them (binary fields base64url); the stand-in checks
        only what the browser side shapes: challenge, type and origin in clientDataJSON."""
        challenge = b64url(os.urandom(32))
        self.stub.challenge = challenge
        host = (self.headers.get("Host") or "").split(":")[0]
        if creation:
            return {"challenge": challenge, "rp": {"name": "Hospital", "id": host},
                    "user": {"id": b64url(b"patient-1"), "name": "jane@example.org", "displayName": "Jane Doe"},
                    "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                    "timeout": 60000, "attestation": "none",
                    "excludeCredentials": [{"type": "public-key", "id": cid} for cid in self.stub.credential_ids],
                    "authenticatorSelection": {"residentKey": "preferred", "userVerification": "preferred"}}
        return {"challenge": challenge, "rpId": host, "timeout": 60000, "userVerification": "preferred",
                "allowCredentials": [{"type": "public-key", "id": cid} for cid in self.stub.credential_ids]}

    def check_client_data(self, payload, kind):
        try:
            raw = payload["response"]["clientDataJSON"]
            client = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (KeyError, ValueError):
            return "clientDataJSON missing or not base64url JSON"
        if client.get("type") != kind:
            return f"type {client.get('type')} is not {kind}"
        if client.get("challenge") != self.stub.challenge:
            return "challenge differs"
        if client.get("origin") != f"http://{self.headers.get('Host')}":
            return f"origin {client.get('origin')}"
        return None

    # tus stand-in -----------------------------------------------------------------------------
    def tus_create(self):
        stub = self.stub
        if self.headers.get("X-CSRF-Token") != stub.session.get("csrf"):
            return self.error(403, "csrf")
        metadata = {}
        for pair in (self.headers.get("Upload-Metadata") or "").split(","):
            key, _, value = pair.strip().partition(" ")
            metadata[key] = base64.b64decode(value).decode()
        if metadata.get("batch") not in stub.batches:
            return self.error(404, "batch.not-found")
        upload_id = uuid.uuid4().hex
        length = int(self.headers["Upload-Length"])
        stub.uploads[upload_id] = {"batch": metadata["batch"], "name": metadata["name"], "length": length,
                                   "offset": 0, "data": bytearray(), "patches": 0}
        self.send(201, headers={"Location": f"/uploads/{upload_id}", "Tus-Resumable": "1.0.0"})

    def tus_head(self, path):
        upload = self.stub.uploads.get(path.rsplit("/", 1)[-1])
        self.stub.requests.append(("HEAD", path, dict(self.headers)))
        if upload is None:
            return self.send(404)
        self.send(200, headers={"Upload-Offset": str(upload["offset"]), "Upload-Length": str(upload["length"]),
                                "Tus-Resumable": "1.0.0"})

    def tus_patch(self, path):
        stub = self.stub
        stub.requests.append(("PATCH", path, dict(self.headers)))
        data = self.body()
        upload = stub.uploads.get(path.rsplit("/", 1)[-1])
        if self.headers.get("X-CSRF-Token") != stub.session.get("csrf"):
            return self.error(403, "csrf")
        if upload is None:
            return self.send(404)
        if stub.patch_delay:
            time.sleep(stub.patch_delay)
        if stub.patch_faults:
            fault = stub.patch_faults.pop(0)
            if fault == "drop":
                # Store the chunk, then cut the connection before answering: the client must HEAD.
                upload["data"] += data
                upload["offset"] += len(data)
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            return self.send(fault)
        if stub.stop_after_bytes is not None and sum(u["offset"] for u in stub.uploads.values()) >= stub.stop_after_bytes:
            return self.send(503)
        if int(self.headers["Upload-Offset"]) != upload["offset"]:
            return self.send(409)
        algorithm, _, digest = (self.headers.get("Upload-Checksum") or "").partition(" ")
        if algorithm != "sha256" or base64.b64decode(digest) != hashlib.sha256(data).digest():
            return self.send(460)
        upload["data"] += data
        upload["offset"] += len(data)
        upload["patches"] += 1
        self.send(204, headers={"Upload-Offset": str(upload["offset"]), "Tus-Resumable": "1.0.0"})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Browsers close kept-alive connections at will; only real faults are worth printing.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HarnessServer:
    def __init__(self, fixtures):
        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.stub = Stub()
        self.httpd.fixtures = str(fixtures)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def stub(self):
        return self.httpd.stub

    def reset_stub(self):
        self.httpd.stub = Stub()
        return self.httpd.stub

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def localhost_url(self):
        """WebAuthn refuses IP addresses as relying party IDs; passkeys need a host name."""
        return f"http://localhost:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
