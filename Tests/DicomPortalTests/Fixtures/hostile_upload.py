#!/usr/bin/env python3
"""A compromised kiosk: uploads hostile files to `dicom-portal core` with a real kiosk certificate, then a
correctly signed manifest that claims nothing is wrong (no findings, nothing rejected, no expected patient).

Core must accept all of it (a kiosk's verdicts are recorded, never relied on); what the worker then delivers
to the PACS is what the calling Swift test checks. Each upload carries its own SOP Instance UID so the test can
look every one of them up in the PACS; ZIP uploads get a made-up UID and list the UIDs of the DICOM files they
hold under "contains".

Usage:
  python3 hostile_upload.py --core https://127.0.0.1:PORT --kiosk-dir K --session SESSION --work DIR \
      --pydicom-files .../pydicom/data/test_files

Prints one JSON object on stdout; exits 0 only when every tus upload completed (204) and the manifest PUT got
201. Nothing here is live malware: the PE files are inert stand-ins and EICAR is assembled at run time.
Standard library + pydicom only (PYTHONPATH must reach pydicom).
"""
import argparse, base64, hashlib, http.client, io, json, os, ssl, struct, subprocess, sys, urllib.parse, zipfile

import pydicom
from pydicom.uid import ExplicitVRLittleEndian

# Split so this file is never itself flagged as EICAR by a scanner on a developer machine or in CI.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
CHUNK = 4 << 20


def fail(message):
    print(f"hostile_upload: {message}", file=sys.stderr)
    sys.exit(1)


class Fixtures:
    """Builds the hostile files under `work`. UIDs derive from the session, so a rerun of the same session builds
    the same bytes, and different sessions never collide in a PACS that outlives one test."""

    def __init__(self, work, pydicom_files, session):
        self.work, self.src, self.session = work, pydicom_files, session
        os.makedirs(work, exist_ok=True)

    def uid(self, label):
        return "2.25." + str(int.from_bytes(hashlib.sha256(f"{self.session}/{label}".encode()).digest()[:16], "big"))

    def dataset(self, source, label):
        """A test file under a new SOP Instance UID, with the hiding places the originals already use (a TIFF
        preamble, Data Set Trailing Padding) emptied, so each fixture carries only its own threat."""
        ds = pydicom.dcmread(os.path.join(self.src, source))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = self.uid(label)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # the byte patches below assume explicit VR LE
        ds.preamble = b"\0" * 128
        if (0xFFFC, 0xFFFC) in ds:
            del ds[0xFFFC, 0xFFFC]
        return ds

    @staticmethod
    def encode(ds):
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return out.getvalue()

    @staticmethod
    def private_block(ds, value, creator="HOSTILE TEST"):
        """Adds the value as OB in a new private block of group 0009; returns its element's header bytes."""
        block = ds.private_block(0x0009, creator, create=True)
        block.add_new(0x01, "OB", value)
        tag = block.get_tag(0x01)
        return struct.pack("<HH", tag.group, tag.element) + b"OB\0\0"

    # --- DICOM files -------------------------------------------------------------------------------------------

    def preamble_pe(self):
        # CVE-2019-11687: "MZ" in the preamble and e_lfanew (at 0x3C) pointing at a "PE\0\0" header hidden in
        # a private element further down, which is how a real polyglot is laid out.
        ds = self.dataset("CT_small.dcm", "preamble-pe")
        self.private_block(ds, b"PE\0\0" + b"\x4c\x01" + b"\0" * 18)
        data = bytearray(self.encode(ds))
        pe = data.index(b"PE\0\0\x4c\x01", 132)
        data[0:2] = b"MZ"
        data[0x3C:0x40] = struct.pack("<I", pe)
        return bytes(data), ds.SOPInstanceUID

    def trailing_zip(self):
        # A ZIP both inside (FFFC,FFFC) and appended after the data set: polyglots a ZIP reader opens from the end.
        ds = self.dataset("CT_small.dcm", "trailing-zip")
        ds.add_new((0xFFFC, 0xFFFC), "OB", self.zip_bytes([("padding.txt", b"hidden in trailing padding\n")]))
        data = self.encode(ds) + self.zip_bytes([("appended.txt", b"hidden after the data set\n")])
        return data, ds.SOPInstanceUID

    def eicar_private(self):
        # A payload in a private OB value: found only when each binary value is scanned on its own, and removed
        # by the private-block policy anyway. Either way the PACS must never hold these bytes.
        ds = self.dataset("CT_small.dcm", "eicar-private")
        self.private_block(ds, EICAR + b"\0" * (len(EICAR) % 2))
        return self.encode(ds), ds.SOPInstanceUID

    def lying_length(self):
        # A value length far beyond the end of the file in the middle of the data set (the GDCM pattern): a
        # parser that allocates first asks for ~2 GiB; everything after it is "inside" the lying value.
        ds = self.dataset("CT_small.dcm", "lying-length")
        tag = self.private_block(ds, b"\xAA" * 16)
        data = bytearray(self.encode(ds))
        header = data.index(tag + struct.pack("<I", 16))
        data[header + 8:header + 12] = struct.pack("<I", 0x7FFFFFF0)
        return bytes(data), ds.SOPInstanceUID

    def deep_nesting(self, levels=5000):
        # Undefined-length sequences nested far past any sane depth; built as bytes since pydicom itself would
        # hit RecursionError. An empty placeholder sequence marks where the nest goes.
        ds = self.dataset("CT_small.dcm", "deep-nesting")
        ds.add_new((0x0040, 0xA730), "SQ", [])
        data = self.encode(ds)
        sq = b"\x40\x00\x30\xA7SQ\0\0"
        placeholder = [p for p in (sq + b"\xff\xff\xff\xff\xfe\xff\xdd\xe0\0\0\0\0", sq + b"\0\0\0\0") if p in data]
        if not placeholder:
            fail("deep nesting: the placeholder sequence was not found in pydicom's output")
        item, item_end = b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\x0d\xe0\0\0\0\0"
        seq_end = b"\xfe\xff\xdd\xe0\0\0\0\0"
        nest = (sq + b"\xff\xff\xff\xff" + item) * levels + (item_end + seq_end) * levels
        return data.replace(placeholder[0], nest, 1), ds.SOPInstanceUID

    def plain(self, source="CT_small.dcm", label="control"):
        # The control: without vendor-private blocks, padding or preamble there is nothing to remove.
        ds = self.dataset(source, label)
        ds.remove_private_tags()
        return self.encode(ds), ds.SOPInstanceUID

    @staticmethod
    def inert_pe():
        # Not DICOM at all, named like an image: "MZ", e_lfanew -> "PE\0\0" (i386), nothing executable.
        data = bytearray(1024)
        data[0:2] = b"MZ"
        data[0x3C:0x40] = struct.pack("<I", 0x80)
        data[0x80:0x86] = b"PE\0\0\x4c\x01"
        return bytes(data)

    # --- Archives (threat class 22) ----------------------------------------------------------------------------

    @staticmethod
    def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression) as zf:
            for name, data in entries:
                # ZipInfo keeps the name as given ("../" included), which is the point of zip-slip.
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = compression
                zf.writestr(info, data)
        return out.getvalue()

    def zip_slip(self):
        dicom, uid = self.plain("MR_small.dcm", "zip-slip-inner")
        autorun = b"[autorun]\r\nopen=viewer.exe\r\nicon=viewer.exe,0\r\n"
        return self.zip_bytes([("../../../../tmp/evil.dcm", dicom), ("autorun.inf", autorun)]), [uid]

    def zip_bomb(self, mib=200):
        # Written to disk in 1 MiB pieces: ~200 KiB compressed, 200 MiB expanded (ratio ~1000:1).
        path = os.path.join(self.work, "bomb.zip")
        zero = bytes(1 << 20)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            info = zipfile.ZipInfo("zeros.dcm", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as entry:
                for _ in range(mib):
                    entry.write(zero)
        with open(path, "rb") as f:
            return f.read(), []

    def zip_encrypted(self):
        # A stored entry holding a valid DICOM, its "encrypted" flag (general-purpose bit 0) set afterwards in the
        # local and central headers: an unpacker that ignores the flag would deliver the instance.
        dicom, uid = self.plain("CT_small.dcm", "encrypted-inner")
        data = bytearray(self.zip_bytes([("IMAGE1.DCM", dicom)], zipfile.ZIP_STORED))
        local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
        data[local + 6] |= 1
        data[central + 8] |= 1
        return bytes(data), [uid]

    def zip_nested(self):
        dicom, uid = self.plain("CT_small.dcm", "nested-inner")
        inner = self.zip_bytes([("IMAGE1.DCM", dicom)])
        return self.zip_bytes([("inner.zip", inner)]), [uid]

    def zip_truncated(self):
        # An archive cut off before its end record (a broken download): no reader can list it, so the upload
        # yields nothing and its batch must wait for a person instead of counting as delivered.
        dicom, uid = self.plain("CT_small.dcm", "truncated-inner")
        data = self.zip_bytes([("IMAGE1.DCM", dicom)])
        return data[:data.rindex(b"PK\x05\x06")], [uid]

    def all(self):
        """(name, class, expect, bytes, uid, uids inside) for every upload, in upload order."""
        out = []
        for name, cls, expect, build in [
            ("PREAMBLE.DCM", "preamble-executable", "disarmed", self.preamble_pe),
            ("TRAILING.DCM", "trailing-zip-polyglot", "disarmed", self.trailing_zip),
            # The private-block policy always removes it (disarmed); a scanner that knows EICAR may reject the
            # file instead. Either is right: the invariant is that no delivered file holds the EICAR bytes.
            ("EICAR.DCM", "private-element-payload", "disarmed", self.eicar_private),
            ("LYING.DCM", "lying-length", "rejected", self.lying_length),
            ("NESTED.DCM", "deep-nesting", "rejected", self.deep_nesting),
            ("IMAGE.DCM", "not-dicom-executable", "refused", lambda: (self.inert_pe(), self.uid("inert-pe"))),
            # Refuse the name, not the image: the DICOM inside is delivered (stand-in name), autorun.inf discarded.
            ("slip.zip", "zip-slip-autorun", "clean", self.zip_slip),
            ("bomb.zip", "zip-bomb", "refused", self.zip_bomb),
            ("encrypted.zip", "zip-encrypted", "refused", self.zip_encrypted),
            # The outer archive is read; the inner one is listed, never expanded, so its DICOM is not delivered.
            ("nested.zip", "zip-nested", "refused", self.zip_nested),
            ("truncated.zip", "zip-truncated", "refused", self.zip_truncated),
            ("CONTROL.DCM", "clean-control", "clean", self.plain),
        ]:
            data, extra = build()
            if isinstance(extra, list):  # an archive: made-up UID for the upload, real UIDs inside
                uid, contains = self.uid(name), extra
            else:
                uid, contains = extra, None
            with open(os.path.join(self.work, name), "wb") as f:
                f.write(data)
            out.append((name, cls, expect, data, uid, contains))
        return out


class Core:
    """Mutual TLS to core with the kiosk's certificate, exactly as a kiosk connects."""

    def __init__(self, url, kiosk_dir):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "https" or not parsed.hostname:
            fail(f"--core must be https://HOST:PORT, not {url}")
        self.host, self.port = parsed.hostname, parsed.port or 443
        self.context = ssl.create_default_context(cafile=os.path.join(kiosk_dir, "portal-ca.crt"))
        self.context.load_cert_chain(os.path.join(kiosk_dir, "kiosk.crt"), os.path.join(kiosk_dir, "kiosk.key"))
        self.connection = None

    def request(self, method, path, body=None, headers=None):
        # One keep-alive connection; reopened once if core closed it between requests.
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=120)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def upload(self, session, name, uid, data):
        digest = hashlib.sha256(data).hexdigest()
        metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                            [("session", session), ("sop-instance-uid", uid), ("sha256", digest), ("filename", name)])
        status, headers, body = self.request("POST", "/uploads/", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata})
        if status != 201:
            fail(f"{name}: POST /uploads/ answered {status}: {body.decode(errors='replace').strip()}")
        location = {k.lower(): v for k, v in headers.items()}.get("location", "")
        path = urllib.parse.urlsplit(location).path or location
        for offset in range(0, len(data), CHUNK):
            chunk = data[offset:offset + CHUNK]
            status, headers, body = self.request("PATCH", path, body=chunk, headers={
                "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream", "Content-Length": str(len(chunk))})
            if status != 204:
                fail(f"{name}: PATCH at offset {offset} answered {status}: {body.decode(errors='replace').strip()}")
        if {k.lower(): v for k, v in headers.items()}.get("upload-offset") != str(len(data)):
            fail(f"{name}: the last PATCH left the upload incomplete")
        return digest


def kiosk_name(kiosk_dir):
    # The manifest must name the kiosk as its certificate does (core answers 403 otherwise).
    out = subprocess.run(["openssl", "x509", "-in", os.path.join(kiosk_dir, "kiosk.crt"), "-noout", "-subject",
                          "-nameopt", "multiline"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "commonName":
            return value.strip()
    fail("kiosk.crt has no common name")


def sign(body, kiosk_dir, work):
    path = os.path.join(work, "manifest.json")
    with open(path, "wb") as f:
        f.write(body)
    result = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(kiosk_dir, "kiosk.key"), path],
                            capture_output=True, check=True)
    return base64.b64encode(result.stdout).decode()


def manifest(kiosk, session, uploads):
    # The lie: an empty report with all totals 0 and no findings, and no expected patient, so the identity is
    # "unverified" and nothing is held for a mismatch -- only the worker's own protection stands in the way.
    report = {
        "schema": "kiosk-agent.report/1",
        "source": {"path": "/dev/sr0", "filesystem": "iso9660", "label": "STUDY"},
        "media": {"findings": []}, "files": [], "studies": [],
        "totals": {k: 0 for k in ("files", "dicom", "clean", "disarmed", "rejected", "discarded", "delivered")},
        "sessionID": session,
    }
    return {
        "schema": "dicom-portal.kiosk-manifest/1", "kiosk": kiosk, "session": session, "operator": "cli",
        "report": report, "audit": [],
        "instances": [{"sopInstanceUID": u["sopInstanceUID"], "sha256": u["sha256"], "size": u["size"]} for u in uploads],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--core", required=True, help="https://HOST:PORT of dicom-portal core")
    parser.add_argument("--kiosk-dir", required=True, help="directory of kiosk.crt, kiosk.key, portal-ca.crt")
    parser.add_argument("--session", required=True, help="kiosk session ID (1-64 of A-Z a-z 0-9 - _ .)")
    parser.add_argument("--work", required=True, help="where the fixtures and the signed manifest are written")
    parser.add_argument("--pydicom-files", required=True, help="pydicom's data/test_files directory")
    args = parser.parse_args()

    fixtures = Fixtures(args.work, args.pydicom_files, args.session).all()
    core = Core(args.core, args.kiosk_dir)
    try:
        uploads = []
        for name, cls, expect, data, uid, contains in fixtures:
            digest = core.upload(args.session, name, uid, data)
            entry = {"name": name, "sopInstanceUID": uid, "sha256": digest, "size": len(data), "class": cls, "expect": expect}
            if contains is not None:
                entry["contains"] = contains
            uploads.append(entry)

        body = json.dumps(manifest(kiosk_name(args.kiosk_dir), args.session, uploads), sort_keys=True).encode()
        status, _, answer = core.request("PUT", f"/api/kiosk/sessions/{args.session}/manifest", body=body, headers={
            "Content-Type": "application/json", "Manifest-Signature": sign(body, args.kiosk_dir, args.work)})
        batch, _, state = core.request("GET", f"/api/kiosk/sessions/{args.session}")
    except (OSError, ssl.SSLError, http.client.HTTPException, subprocess.CalledProcessError) as error:
        fail(f"talking to core at {args.core} failed: {error}")

    print(json.dumps({"session": args.session, "uploads": uploads, "manifest_status": status,
                      "batch": json.loads(state) if batch == 200 else None}))
    if status != 201:
        fail(f"manifest PUT answered {status}, not 201: {answer.decode(errors='replace').strip()}")


if __name__ == "__main__":
    main()
