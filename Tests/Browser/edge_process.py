"""The real `dicom-portal edge` for the browser tests: started as a process on loopback ports with its own
state directory and configuration, its link credentials from `dicom-portal edge provision`; core's side of
the link (mutual TLS with core's client certificate) to push patients, invitations and results and to
collect what patients submitted; a browser-like HTTP client to put patients into a state quickly; and a
TLS proxy that forwards to the edge and injects the faults the edge cannot make on demand."""

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WEB = REPO / "Sources" / "Portal" / "PortalEdge" / "Web"
HARNESS = HERE / "harness"
HOSPITAL = "Hospital"
# The edge's smallest chunk size ([edge] chunk_size); the tus tests choose smaller chunks themselves.
CHUNK_SIZE = 256 * 1024


def edge_binary():
    """$DICOM_PORTAL_BINARY, else the debug build of this checkout; None when neither is there."""
    configured = os.environ.get("DICOM_PORTAL_BINARY")
    path = Path(configured) if configured else REPO / ".build" / "debug" / "dicom-portal"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EdgeError(Exception):
    pass


def core_client_certificate(directory):
    """Core's client certificate for the link, from the link CA `edge provision` made in core's state:
    CN "dicom-portal core", clientAuth, P-256, as core issues it for itself when it first opens the link
    (EdgeLinkAuthority.coreCredentials); provisioning alone does not."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    certificate_path, key_path = directory / "core.crt", directory / "core.key"
    if certificate_path.exists() and key_path.exists():
        return certificate_path, key_path
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    issued = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dicom-portal core")]))
              .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                           crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    certificate_path.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    return certificate_path, key_path


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}

    def header(self, name):
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r}"


def _request(connection, method, path, body=None, headers=None):
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


class EdgeProcess:
    """`dicom-portal edge` on 127.0.0.1:port. Browsers reach it at `origin` (https://localhost:public_port);
    public_port is another port when a proxy stands in front of it, as a reverse proxy would. The pages it
    serves are a copy of Web/ plus the module harness (harness.html, assets/harness/harness.js), so the
    harness is same-origin with the edge's API and tus endpoint."""

    _refs = iter(range(1000, 10**9))

    def __init__(self, directory, public_port=None, log_name="edge"):
        binary = edge_binary()
        if binary is None:
            raise EdgeError("the dicom-portal binary is not built (swift build --product dicom-portal) "
                            "and $DICOM_PORTAL_BINARY names none")
        self.directory = Path(directory)
        self.port = free_port()
        self.link_port = free_port()
        self.public_port = public_port or self.port
        self.origin = f"https://localhost:{self.public_port}"
        self.state = self.directory / "state"
        self.core_state = self.directory / "core"
        provision = subprocess.run(
            [str(binary), "edge", "provision", "--host", "127.0.0.1", "--host", "localhost",
             "--out", str(self.state / "edge" / "link"), "--state-dir", str(self.core_state)],
            capture_output=True, text=True, timeout=120)
        if provision.returncode != 0:
            raise EdgeError(f"dicom-portal edge provision failed: {provision.stderr or provision.stdout}")
        web = self.directory / "web"
        shutil.copytree(WEB, web)
        shutil.copy(HARNESS / "harness.html", web / "harness.html")
        (web / "assets" / "harness").mkdir()
        shutil.copy(HARNESS / "harness.js", web / "assets" / "harness" / "harness.js")
        config = self.directory / "dicom-portal.toml"
        config.write_text(
            "[edge]\n"
            f'listen = "127.0.0.1:{self.port}"\n'
            f'public_url = "{self.origin}"\n'
            f'link_listen = "127.0.0.1:{self.link_port}"\n'
            f'hospital_name = "{HOSPITAL}"\n'
            f'web_root = "{web}"\n'
            f"chunk_size = {CHUNK_SIZE}\n")
        self.log_path = self.directory / f"{log_name}.log"
        self.log = open(self.log_path, "wb")
        certificate, key = core_client_certificate(self.core_state / "pki" / "edge-link")
        self.link_tls = ssl.create_default_context(cafile=str(self.state / "edge" / "link" / "link-ca.crt"))
        self.link_tls.load_cert_chain(str(certificate), str(key))
        self.process = subprocess.Popen([str(binary), "edge", "--state-dir", str(self.state), "--config", str(config)],
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EdgeError(f"dicom-portal edge exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.link("GET", "/link/v1/health").status == 200 and self.public("GET", "/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise EdgeError(f"dicom-portal edge did not answer within {timeout} s: {self.log_tail()}")

    def log_tail(self, lines=20):
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    @property
    def server_credentials(self):
        """The certificate and key the edge made for itself (a proxy in front serves the same)."""
        tls = self.state / "edge" / "tls"
        certificates = [p for p in tls.glob("*.crt") if p.name != "portal-ca.crt"]
        keys = [p for p in tls.glob("*.key") if p.name != "portal-ca.key"]
        if len(certificates) != 1 or len(keys) != 1:
            raise EdgeError(f"cannot tell the edge's server certificate in {tls}: {sorted(p.name for p in tls.iterdir())}")
        return certificates[0], keys[0]

    def public(self, method, path, body=None, headers=None):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return _request(http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=60),
                        method, path, body, headers)

    # Core's side of the link ------------------------------------------------------------------------
    def link(self, method, path, value=None):
        body = json.dumps(value).encode() if value is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return _request(http.client.HTTPSConnection("127.0.0.1", self.link_port, context=self.link_tls, timeout=60),
                        method, path, body, headers)

    def expect(self, reply, status, what):
        if reply.status != status:
            raise EdgeError(f"{what}: {reply}")
        return reply

    def invite(self, patient):
        """Core pushes the patient with a fresh invitation (as `dicom-portal patient invite` does); the token
        goes to patient.token, as the invitation e-mail would carry it."""
        raw = secrets.token_bytes(16)
        patient.token = b64url(raw)
        if patient.ref is None:
            patient.ref = str(next(self._refs))
        self.expect(self.link("PUT", f"/link/v1/patients/{patient.ref}", {
            "name": patient.name, "birthDate": patient.birth_date, "email": patient.email,
            "invitation": {"tokenSHA256": hashlib.sha256(raw).hexdigest(),
                           "expiresAt": iso(datetime.now(timezone.utc) + timedelta(hours=72))}}), 204, "PUT patient")
        return patient.token

    def submitted(self):
        """Core's view: the batches waiting to be collected, by id."""
        reply = self.expect(self.link("GET", "/link/v1/batches?state=submitted"), 200, "GET submitted batches")
        return {batch["id"]: batch for batch in reply.json["batches"]}

    def upload_bytes(self, batch_id, upload_id):
        return self.expect(self.link("GET", f"/link/v1/batches/{batch_id}/uploads/{upload_id}"), 200, "GET upload").body

    def decide(self, batch_id, state, result):
        """Core collected the batch and pushes the hospital's result."""
        self.expect(self.link("POST", f"/link/v1/batches/{batch_id}/received"), 204, "POST received")
        self.expect(self.link("PUT", f"/link/v1/batches/{batch_id}/result", {**result, "state": state}), 204, "PUT result")


class Patient:
    _numbers = iter(range(1, 10**9))

    def __init__(self, name="DOE^JANE", birth_date="19700101", password="correct horse battery"):
        number = next(self._numbers)
        self.ref = None
        self.name = name
        self.birth_date = birth_date
        self.email = f"patient{number}.{os.getpid()}@example.org"
        self.password = password
        self.token = None
        self.totp_secret = None
        self.recovery_codes = None

    @property
    def birth_date_iso(self):
        return f"{self.birth_date[0:4]}-{self.birth_date[4:6]}-{self.birth_date[6:8]}"


class ApiClient:
    """What the portal's pages do at the HTTP level (session cookie, CSRF token, Origin and Sec-Fetch-Site as
    Chromium sends them), to bring a patient to a state quickly; the pages themselves are tested in Chromium."""

    def __init__(self, edge, cookie=None):
        self.edge = edge
        self.cookie = cookie
        self.csrf = None

    def request(self, method, path, value=None, body=None, headers=None):
        sent = {"Origin": self.edge.origin, "Sec-Fetch-Site": "same-origin", **(headers or {})}
        if self.cookie:
            sent["Cookie"] = f"__Host-session={self.cookie}"
        if self.csrf and method not in ("GET", "HEAD"):
            sent["X-CSRF-Token"] = self.csrf
        if value is not None:
            body = json.dumps(value).encode()
            sent["Content-Type"] = "application/json"
        reply = self.edge.public(method, path, body, sent)
        for key, header in reply.headers:
            if key.lower() == "set-cookie" and header.startswith("__Host-session="):
                self.cookie = header.split(";", 1)[0].split("=", 1)[1] or None
        if isinstance(reply.json, dict) and reply.json.get("csrf"):
            self.csrf = reply.json["csrf"]
        return reply

    def call(self, method, path, value=None, status=200):
        reply = self.request(method, path, value)
        if reply.status != status:
            raise EdgeError(f"{method} {path}: {reply}")
        return reply.json

    def enrol(self, patient, totp_code):
        """Invitation to signed in with an authenticator app; the session stays with this client."""
        self.call("GET", "/api/session")
        self.call("POST", "/api/enrol/start", {"token": patient.token})
        self.call("POST", "/api/enrol/birth-date", {"birthDate": patient.birth_date_iso})
        self.enrol_password(patient)
        begin = self.call("POST", "/api/enrol/totp/begin")
        patient.totp_secret = begin["secret"]
        patient.recovery_codes = self.call("POST", "/api/enrol/totp/finish", {"code": totp_code(patient.totp_secret)})["recoveryCodes"]
        self.call("POST", "/api/enrol/done")
        return self

    def enrol_password(self, patient):
        self.call("POST", "/api/enrol/password", {"password": patient.password, "confirmation": patient.password})

    def create_batch(self, label=None):
        return self.call("POST", "/api/batches", {"label": label} if label else {}, status=201)["id"]

    def upload(self, batch_id, name, data):
        """One file through tus in one PATCH; returns the upload's path."""
        metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                            for key, value in (("batch", batch_id), ("name", name), ("size", str(len(data)))))
        created = self.request("POST", "/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                                                             "Upload-Metadata": metadata})
        if created.status != 201:
            raise EdgeError(f"tus POST: {created}")
        location = created.header("Location")
        checksum = "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()
        patched = self.request("PATCH", location, body=data, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": checksum})
        if patched.status != 204:
            raise EdgeError(f"tus PATCH: {patched}")
        return location

    def submit(self, batch_id, studies=()):
        return self.call("POST", f"/api/batches/{batch_id}/submit", {"consent": True, "summary": {"studies": list(studies)}})


class FaultProxy:
    """HTTPS on 127.0.0.1:port in front of an edge (serving the edge's own certificate): each request is
    forwarded to the edge unchanged and recorded as (method, path, headers, status); a test queues faults
    for the next PATCHes: a status answered instead of forwarding (500), "corrupt" (one byte of the chunk
    flipped on the way, so the edge itself refuses it with 460), "drop" (forwarded and stored by the edge,
    but the connection is cut before the answer reaches the browser); `delay` slows every PATCH."""

    def __init__(self, port, edge):
        self.port = port
        self.edge = edge
        self.lock = threading.Lock()
        self.requests = []
        self.patch_faults = []
        self.delay = 0.0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate, key = edge.server_credentials
        context.load_cert_chain(str(certificate), str(key))
        self.httpd = _ProxyServer(("127.0.0.1", port), _ProxyHandler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.httpd.proxy = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.patch_faults.clear()
            self.delay = 0.0

    def take_fault(self, method):
        with self.lock:
            return self.patch_faults.pop(0) if method == "PATCH" and self.patch_faults else None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def recorded(self, method=None):
        with self.lock:
            return [entry for entry in self.requests if method is None or entry[0] == method]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade", "te", "trailer"}


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # browsers drop kept-alive connections at will, and "drop" faults end connections on purpose


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, *args):
        pass

    def finish(self):
        super().finish()
        if self.upstream is not None:
            self.upstream.close()

    def forward(self):
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        received = dict(self.headers.items())
        headers = {key: value for key, value in received.items() if key.lower() not in HOP_BY_HOP}
        path = self.path
        fault = proxy.take_fault(self.command)
        if self.command == "PATCH" and proxy.delay:
            time.sleep(proxy.delay)
        if isinstance(fault, int):
            proxy.record((self.command, path, received, fault))
            message = b"the proxy in front of the edge failed"
            self.send_response(fault)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        if fault == "corrupt" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if self.upstream is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.upstream = http.client.HTTPSConnection("127.0.0.1", proxy.edge.port, context=context, timeout=120)
        try:
            self.upstream.request(self.command, path, body=body, headers=headers)
            response = self.upstream.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.upstream.close()
            self.upstream = None
            self.close_connection = True
            return
        proxy.record((self.command, path, received, response.status))
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        if response.status not in (204, 304) and self.command != "HEAD" or data:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_HEAD = do_DELETE = do_PUT = do_OPTIONS = forward
