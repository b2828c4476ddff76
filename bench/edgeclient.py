"""A patient's side of `dicom-portal edge` for the benchmarks, without a browser: the session cookie (taken from a
browser that signed in), the CSRF token, batches, and tus uploads with a SHA-256 per PATCH, as tus.js sends them."""

import base64
import hashlib
import http.client
import json
import ssl
import urllib.parse


class EdgeClient:
    """One HTTPS connection to the edge's public listener (loopback, its self-signed certificate accepted), with a
    signed-in session's cookie. Not shared between threads: each concurrent upload makes its own."""

    def __init__(self, port: int, cookie: str, csrf: str | None = None):
        self.port, self.cookie = port, cookie
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=600)
        self.csrf = csrf or ""
        if csrf is None:
            self.csrf = self.session()["csrf"]

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict, bytes]:
        sent = {"Cookie": f"__Host-session={self.cookie}", "X-CSRF-Token": self.csrf, **(headers or {})}
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def session(self) -> dict:
        status, _, body = self.request("GET", "/api/session")
        session = json.loads(body)
        if status != 200 or session.get("state") != "signed-in":
            raise RuntimeError(f"the edge's session is not signed in: HTTP {status} {body[:200]!r}")
        return session

    def new_batch(self) -> str:
        status, _, body = self.request("POST", "/api/batches", body=b"{}", headers={"Content-Type": "application/json"})
        if status != 201:
            raise RuntimeError(f"POST /api/batches answered {status}: {body[:200]!r}")
        return json.loads(body)["id"]

    def abandon(self, batch: str) -> None:
        status, _, body = self.request("DELETE", f"/api/batches/{batch}")
        if status != 204:
            raise RuntimeError(f"DELETE /api/batches/{batch} answered {status}: {body[:200]!r}")

    def upload(self, batch: str, name: str, data: bytes, chunk: int, checksums: list[str] | None = None) -> None:
        """tus creation, then one PATCH per `chunk` bytes with `Upload-Checksum: sha256` (given, or computed here)."""
        metadata = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                            for key, value in [("batch", batch), ("name", name), ("size", str(len(data)))])
        status, headers, body = self.request("POST", "/uploads/", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata})
        if status != 201:
            raise RuntimeError(f"tus POST answered {status}: {body[:200]!r}")
        location = urllib.parse.urlsplit(headers["location"]).path
        view = memoryview(data)
        for index, offset in enumerate(range(0, len(data), chunk)):
            part = view[offset:offset + chunk]
            digest = checksums[index] if checksums else base64.b64encode(hashlib.sha256(part).digest()).decode()
            status, headers, body = self.request("PATCH", location, body=part, headers={
                "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha256 {digest}"})
            if status != 204 or headers.get("upload-offset") != str(offset + len(part)):
                raise RuntimeError(f"tus PATCH at {offset} answered {status}: {body[:200]!r}")

    def close(self) -> None:
        self.connection.close()


def chunk_checksums(data: bytes, chunk: int) -> list[str]:
    view = memoryview(data)
    return [base64.b64encode(hashlib.sha256(view[offset:offset + chunk]).digest()).decode()
            for offset in range(0, len(data), chunk)]
