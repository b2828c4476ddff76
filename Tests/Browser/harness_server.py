"""Serves the portal's Web/ folder, the module harness and the tests' fixtures on a loopback port, with
the edge's Content-Security-Policy, for the tests of the front end's modules (DICOM header reader, ZIP,
classification, QR codes), which need files but no edge. The pages and the tus client are tested against
the real edge (edge_process.py)."""

import mimetypes
import sys
import threading
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


class Handler(BaseHTTPRequestHandler):
    server_version = "harness"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type=None):
        self.send_response(status)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def static(self, root, relative):
        root = root.resolve()
        target = (root / relative).resolve()
        if root not in target.parents and target != root or not target.is_file():
            return self.send(404, b"not found\n", "text/plain")
        data = target.read_bytes()
        content_type = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self.send(200, data, content_type)

    def do_GET(self):
        # The harness sits where the edge under test serves it too: /harness.html and /assets/harness/.
        path = self.path.split("?")[0]
        if path == "/harness.html":
            return self.static(HARNESS, "harness.html")
        if path.startswith("/assets/harness/"):
            return self.static(HARNESS, path[len("/assets/harness/"):])
        if path.startswith("/fixtures/"):
            return self.static(Path(self.server.fixtures), path[len("/fixtures/"):])
        if path == "/":
            path = "/index.html"
        return self.static(WEB, path.lstrip("/"))


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Browsers close kept-alive connections at will; only real faults are worth printing.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class HarnessServer:
    def __init__(self, fixtures):
        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.fixtures = str(fixtures)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
