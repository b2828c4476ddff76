#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the project's fixtures: pydicom's real test files,
small disc and stick images made with the real tools (genisoimage, mkfs.vfat + mcopy, mkfs.exfat),
and well-formed protocol messages. Usage: make-seeds.py TESTDATA_ROOT OUT_DIR"""
import json, os, pathlib, shutil, struct, subprocess, sys, tempfile

testdata, out = sys.argv[1], sys.argv[2]
files = os.path.join(testdata, "pydicom/pydicom/data/test_files")


def seed(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


# DICOM reader: every pydicom test file up to 256 KiB (valid, broken, every transfer syntax).
dicomdirs = []
for dirpath, _, names in os.walk(files):
    for name in sorted(names):
        path = os.path.join(dirpath, name)
        if os.path.getsize(path) > 256 << 10:
            continue
        data = open(path, "rb").read()
        if name.upper().startswith("DICOMDIR"):
            dicomdirs.append((name, data))
        elif len(data) > 132 and data[128:132] == b"DICM" or name.endswith(".dcm"):
            seed("FuzzDICOMReader", name, data)
for index, (name, data) in enumerate(dicomdirs):
    seed("FuzzDICOMDIR", f"{index}-{name}", data)

# Bytes after the end of a codestream: an inert PE stand-in appended inside the last fragment of
# each kind of encapsulated file (the fragment's item length grown to match).
pe = bytearray(0x48)
pe[0:2], pe[0x3C], pe[0x40:0x44] = b"MZ", 0x40, b"PE\0\0"
for name in ("JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm"):
    path = os.path.join(files, name)
    if not os.path.exists(path):
        continue
    data = bytearray(open(path, "rb").read())
    item = data.rfind(b"\xfe\xff\x00\xe0")
    if item < 0:
        continue
    length = struct.unpack_from("<I", data, item + 4)[0]
    end = item + 8 + length
    data[end:end] = bytes(pe)
    struct.pack_into("<I", data, item + 4, length + len(pe))
    seed("FuzzDICOMReader", "trailing-" + name, bytes(data))

# Codestream ends: the fragments of real JPEG, JPEG-LS, JPEG 2000 and RLE files, as one fragment
# per frame, split across fragments, with a right and a wrong offset table, and with a PE stand-in
# after the end (see fuzz/Sources/FuzzCodestreamEnd for the layout).
def encapsulated(data):
    """The Basic Offset Table and fragments of explicit VR little endian encapsulated Pixel Data."""
    at = data.rfind(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
    if at < 0:
        return None
    at += 12
    items = []
    while at + 8 <= len(data) and data[at:at + 4] == b"\xfe\xff\x00\xe0":
        length = struct.unpack_from("<I", data, at + 4)[0]
        items.append(data[at + 8:at + 8 + length])
        at += 8 + length
    return items if len(items) >= 2 else None

def dimension(data, element):
    at = data.find(b"\x28\x00" + struct.pack("<H", element) + b"US\x02\x00")
    return struct.unpack_from("<H", data, at + 8)[0] if at >= 0 else 0

def fragment_seed(family, table_mode, pieces, frames, segment_bytes, table=b""):
    head = bytes([family | table_mode << 2, (len(pieces) - 1) % 8, (frames - 1) % 4]) + struct.pack("<H", segment_bytes & 0xFFFF)
    return head + b"".join(struct.pack("<I", len(p)) for p in pieces[:-1]) + table + b"".join(pieces)

families = {"JPEG-lossy.dcm": 0, "SC_rgb_jpeg_dcmtk.dcm": 0, "SC_rgb_small_odd_jpeg.dcm": 0, "MR_small_jpeg_ls_lossless.dcm": 1,
            "SC_rgb_jls_lossy_line.dcm": 1, "JPEG2000.dcm": 2, "MR_small_jp2klossless.dcm": 2, "693_J2KI.dcm": 2,
            "MR_small_RLE.dcm": 3, "SC_rgb_rle_2frame.dcm": 3, "rtdose_rle.dcm": 3}
for name, family in families.items():
    path = os.path.join(files, name)
    if not os.path.exists(path):
        continue
    data = open(path, "rb").read()
    items = encapsulated(data)
    if not items:
        continue
    table, fragments = items[0], items[1:]
    frames = len(table) // 4 or 1
    rows_columns = dimension(data, 0x10) * dimension(data, 0x11)
    base = name.rsplit(".", 1)[0]
    seed("FuzzCodestreamEnd", base + "-fragments", fragment_seed(family, 0, fragments[:8], frames, rows_columns))
    seed("FuzzCodestreamEnd", base + "-table", fragment_seed(family, 1, fragments[:8], frames, rows_columns))
    seed("FuzzCodestreamEnd", base + "-own-table", fragment_seed(family, 2, fragments[:8], frames, rows_columns, table[:frames * 4].ljust(frames * 4, b"\0")))
    first = fragments[0]
    thirds = [first[:len(first) // 3], first[len(first) // 3:2 * len(first) // 3], first[2 * len(first) // 3:]]
    seed("FuzzCodestreamEnd", base + "-split", fragment_seed(family, 0, thirds, 1, rows_columns))
    seed("FuzzCodestreamEnd", base + "-trailing", fragment_seed(family, 0, [first + bytes(pe)], 1, rows_columns))
    seed("FuzzCodestreamEnd", base + "-trailing-fragment", fragment_seed(family, 0, [first, bytes(pe)], 1, rows_columns))
    seed("FuzzEmbeddedSearch", base + "-codestream", first[:16384])

# Nested encapsulated pixel data: an Icon Image Sequence whose item holds an encapsulated frame (a
# copy of the file's first fragment), all of undefined length, just before the Pixel Data.
for name in ("JPEG-lossy.dcm", "MR_small_RLE.dcm"):
    path = os.path.join(files, name)
    if not os.path.exists(path):
        continue
    data = open(path, "rb").read()
    items = encapsulated(data)
    pixel = data.rfind(b"\xe0\x7f\x10\x00OB")
    if not items or pixel < 0:
        continue
    frame = items[1] + (b"\0" if len(items[1]) % 2 else b"")
    def us(element, value):
        return b"\x28\x00" + struct.pack("<H", element) + b"US\x02\x00" + struct.pack("<H", value)
    icon = (us(0x10, dimension(data, 0x10)) + us(0x11, dimension(data, 0x11))
            + b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
            + b"\xfe\xff\x00\xe0" + struct.pack("<I", len(frame)) + frame + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    sequence = b"\x88\x00\x00\x02SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + icon \
        + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    nested = data[:pixel] + sequence + data[pixel:]
    seed("FuzzDICOMReader", "icon-encapsulated-" + name, nested)

# Active content: PDFs with every kind of action written plainly, then rewritten by qpdf with the
# dictionaries compressed into object streams (what real producers do); CDA documents with
# scripts and external references, in UTF-8 and UTF-16. Selector 0 = PDF, 1 = object-stream
# content, 2 = XML.
def pdf(objects):
    body, offsets = b"%PDF-1.5\n", []
    for number, text in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, text.encode())
    table = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return body + b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, table)

page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>"
content = "<< /Length 44 >>\nstream\nBT /F1 12 Tf 20 100 Td (inert text) Tj ET\nendstream"
pdfs = {
    "plain": ["<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content],
    "javascript": ["<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content,
                   "<< /S /JavaScript /JS (app.alert\\('inert'\\);) >>"],
    "escaped-launch": ["<< /Type /Catalog /Pages 2 0 R /Names << /J#61vaScript 5 0 R >> /AA << /O << /S /L#61unch /F (calc.exe) >> >> >>",
                       "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content, "<< /Names [(x) << /S /JavaScript /JS (1) >>] >>"],
    "attachment": ["<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a.txt) 5 0 R] >> >> /AcroForm << /XFA 6 0 R >> >>",
                   "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content,
                   "<< /Type /Filespec /F (a.txt) /EF << /F 6 0 R >> >>", "<< /Type /EmbeddedFile /Length 5 >>\nstream\nhello\nendstream"],
}
qpdf = shutil.which("qpdf")
with tempfile.TemporaryDirectory() as tmp:
    for name, objects in pdfs.items():
        plain = pdf(objects)
        seed("FuzzActiveContent", "pdf-" + name, b"\x00" + plain)
        seed("FuzzActiveContent", "objects-" + name, b"\x01" + b"\n".join(o.encode() for o in objects))
        if not qpdf:
            continue
        source = os.path.join(tmp, name + ".pdf")
        open(source, "wb").write(plain)
        for variant, options in [("objstm", ["--object-streams=generate", "--compress-streams=y"]),
                                 ("objstm-uncompressed", ["--object-streams=generate", "--compress-streams=n", "--decode-level=all"]),
                                 ("qdf", ["--qdf", "--object-streams=disable"])]:
            target = os.path.join(tmp, f"{name}-{variant}.pdf")
            # qpdf exits 3 on warnings (it repairs what it reads); the output is still written.
            if subprocess.run([qpdf, *options, source, target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode in (0, 3):
                seed("FuzzActiveContent", f"pdf-{name}-{variant}", b"\x00" + open(target, "rb").read())

cda = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="https://example.invalid/cda.xsl"?>
<!DOCTYPE ClinicalDocument SYSTEM "http://example.invalid/cda.dtd" [<!ENTITY x "y">]>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xi="http://www.w3.org/2001/XInclude">
  <title>Report</title>
  <component><section><text>
    <paragraph onclick="alert(1)">Findings &amp; impression</paragraph>
    <linkHtml href="java&#x9;script:alert(1)">link</linkHtml>
    <renderMultiMedia referencedObject="i1"/><observationMedia ID="i1"><value xlink:href="file:///etc/passwd"/></observationMedia>
    <xi:include href="//example.invalid/part.xml"/>
    <!-- <script>not a script</script> --><![CDATA[<script>nor this</script>]]>
    <script type="text/javascript">alert(1)</script>
  </text></section></component>
</ClinicalDocument>
"""
clean = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="CDA.xsl"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Report</title><component><section><text>No findings.</text></section></component></ClinicalDocument>
"""
seed("FuzzActiveContent", "cda-active", b"\x02" + cda.encode())
seed("FuzzActiveContent", "cda-clean", b"\x02" + clean.encode())
seed("FuzzActiveContent", "cda-utf16", b"\x02" + cda.encode("utf-16"))
seed("FuzzActiveContent", "cda-utf16be", b"\x02" + cda.encode("utf-16-be"))

# Programs at any offset: each signature family inside pixel-like bytes, at 0, 1 and 37.
noise = bytes((i * 37 + 11) & 0xFF for i in range(512))
elf = b"\x7fELF\x02\x01\x01" + bytes(9)
macho = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + bytes(8)
ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8)
lnk = b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
script = b"#!/usr/bin/env python3\nprint(1)\n"
zip_header = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(16) + struct.pack("<HH", 20, 0) + b"META-INF/MANIFEST.MF"
for kind, signature in [("pe", bytes(pe)), ("elf", elf), ("macho", macho), ("ole", ole), ("lnk", lnk), ("script", script), ("jar", zip_header)]:
    for offset in (0, 1, 37):
        seed("FuzzEmbeddedSearch", f"{kind}-at-{offset}", noise[:offset] + signature + noise[:64])
seed("FuzzEmbeddedSearch", "macho-truncated", noise[:61] + b"\xfe\xed\xfa\xce")

# Media: a tiny tree as ISO 9660 + Joliet + Rock Ridge, as UDF bridge, as FAT and exFAT.
with tempfile.TemporaryDirectory() as tmp:
    tree = os.path.join(tmp, "tree")
    os.makedirs(os.path.join(tree, "DICOM", "ST0", "SE0"))
    small = [n for n in ("CT_small.dcm", "MR_small.dcm") if os.path.exists(os.path.join(files, n))]
    for index, name in enumerate(small):
        shutil.copy(os.path.join(files, name), os.path.join(tree, "DICOM", "ST0", "SE0", f"IM{index}"))
    if dicomdirs:
        open(os.path.join(tree, "DICOMDIR"), "wb").write(dicomdirs[0][1])
    open(os.path.join(tree, "AUTORUN.INF"), "w").write("[autorun]\r\nopen=VIEWER.EXE\r\n")
    run = lambda *args: subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    iso, udf = os.path.join(tmp, "disc.iso"), os.path.join(tmp, "udf.iso")
    run("genisoimage", "-quiet", "-J", "-R", "-V", "FUZZ", "-o", iso, tree)
    run("genisoimage", "-quiet", "-udf", "-J", "-R", "-V", "FUZZ", "-o", udf, tree)
    seed("FuzzMedia", "iso9660-joliet-rr.iso", open(iso, "rb").read())
    seed("FuzzMedia", "udf-bridge.iso", open(udf, "rb").read())
    fat = os.path.join(tmp, "stick.img")
    mkfs = shutil.which("mkfs.vfat") or "/usr/sbin/mkfs.vfat"
    run(mkfs, "-C", "-n", "FUZZ", fat, "1024")
    entries = [os.path.join(tree, e) for e in os.listdir(tree)]
    subprocess.run(["mcopy", "-s", "-i", fat, *entries, "::/"], check=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    fat_bytes = open(fat, "rb").read()
    seed("FuzzMedia", "fat12.img", fat_bytes)
    seed("FuzzFAT", "fat12.img", b"\x00" + fat_bytes)
    exfat = os.path.join(tmp, "exfat.img")
    with open(exfat, "wb") as f:
        f.truncate(4 << 20)   # exfatprogs makes nothing smaller
    mkexfat = shutil.which("mkfs.exfat") or "/usr/sbin/mkfs.exfat"
    if subprocess.run([mkexfat, "-L", "FUZZ", exfat], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        data = open(exfat, "rb").read()
        seed("FuzzMedia", "exfat.img", data)
        seed("FuzzFAT", "exfat.img", b"\x01" + data)

# ZIP uploads: stored and deflated entries in folders, a data descriptor, ZIP64 records.
import io, zipfile
for name, options in (("plain.zip", {}), ("zip64.zip", {"force_zip64": True})):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("DICOM/"), b"")
        archive.writestr("DICOM/IM1", b"DICM" * 64, compress_type=zipfile.ZIP_STORED)
        with archive.open(zipfile.ZipInfo("DICOM/IM2"), "w", **options) as entry:
            entry.write(b"\x00\x01" * 2048)
        archive.writestr("README.TXT", b"viewer inside", compress_type=zipfile.ZIP_DEFLATED)
    seed("FuzzZip", name, buffer.getvalue())

# Upper layer: the PDUs a PACS sends back, prefixed by the piece size the target splits them into.
def item(kind, body):
    return struct.pack(">BBH", kind, 0, len(body)) + body
def pdu(kind, body):
    return struct.pack(">BBI", kind, 0, len(body)) + body
user = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4") + item(0x55, b"PACS_1"))
context = item(0x21, bytes([1, 0, 0, 0]) + item(0x40, b"1.2.840.10008.1.2.1"))
ac = pdu(0x02, b"\x00\x01\x00\x00" + b"PACS".ljust(16) + b"KIOSK".ljust(16) + bytes(32)
         + item(0x10, b"1.2.840.10008.3.1.1.1") + context + user)
def element(group, elem, value):
    return struct.pack("<HHI", group, elem, len(value)) + value
command = element(0, 0x0002, b"1.2.840.10008.5.1.4.1.1.2\x00") + element(0, 0x0100, struct.pack("<H", 0x8001)) \
    + element(0, 0x0120, struct.pack("<H", 1)) + element(0, 0x0800, struct.pack("<H", 0x0101)) + element(0, 0x0900, struct.pack("<H", 0))
command = element(0, 0x0000, struct.pack("<I", len(command))) + command
pdata = pdu(0x04, struct.pack(">I", len(command) + 2) + bytes([1, 0x03]) + command)
for name, data in [("associate-ac", ac), ("p-data-store-rsp", pdata), ("release-rp", pdu(0x06, bytes(4))),
                   ("abort", pdu(0x07, bytes([0, 0, 2, 1]))), ("associate-rj", pdu(0x03, bytes([0, 1, 1, 3])))]:
    seed("FuzzPDU", name, b"\x40" + data)
    seed("FuzzPDU", name + "-split", b"\x03" + data)
seed("FuzzPDU", "ac-then-pdata", b"\x40" + ac + pdata)
seed("FuzzDIMSE", "c-store-rsp", command)
seed("FuzzDIMSE", "c-echo-rsp", element(0, 0x0100, struct.pack("<H", 0x8030)) + element(0, 0x0120, struct.pack("<H", 1))
     + element(0, 0x0900, struct.pack("<H", 0xA700)) + element(0, 0x0902, b"Out of resources"))

# STOW-RS: status selector byte (0 = 200, 1 = 202, 2 = 409) then the DICOM JSON body.
ok = {"00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3.0"]}, "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]}}]}}
failed = {"00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3.1"]}, "00081197": {"vr": "US", "Value": [49442]}}]},
          "00081199": ok["00081199"]}
seed("FuzzSTOWResponse", "ok", b"\x00" + json.dumps(ok).encode())
seed("FuzzSTOWResponse", "partial", b"\x01" + json.dumps(failed).encode())
seed("FuzzSTOWResponse", "conflict", b"\x02" + json.dumps(failed).encode())

# Engines: clamd (selector 0) and ICAP (selector 1).
for name, data in [("clamd-ok", b"\x00stream: OK"), ("clamd-found", b"\x00stream: Eicar-Test-Signature FOUND"),
                   ("clamd-error", b"\x00INSTREAM size limit exceeded. ERROR"),
                   ("icap-204", b"\x01ICAP/1.0 204 No Content\r\nISTag: \"x\"\r\n\r\n"),
                   ("icap-found", b"\x01ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Test-Signature;\r\n\r\n"),
                   ("icap-violations", b"\x01ICAP/1.0 200 OK\r\nX-Violations-Found: 1\r\n\tfile\r\n\tEICAR\r\n\t0\r\n\t0\r\n\r\n")]:
    seed("FuzzEngineReplies", name, data)

# The configuration file: the shipped example (every key), and small tables with arrays across lines.
example = pathlib.Path(__file__).resolve().parent.parent / "config" / "kiosk-agent.toml"
seed("FuzzConfig", "shipped-example", example.read_bytes())
seed("FuzzConfig", "arrays", b'[pacs]\nsop_classes = [\n  "1.2.840.10008.5.1.4.1.1.2", # CT\n  "1.2.840.10008.5.1.4.1.1.4",\n]\n'
     b'[protector]\nkeep_private_creators = ["SIEMENS CSA HEADER"]\nicons = "reject"\n')
seed("FuzzConfig", "sandbox", b'[sandbox]\nstall_seconds = 30\ncpu_seconds = 600\nmemory_bytes = 1_073_741_824\nopen_files = 64\n'
     b'[limits]\nmax_entries = 1_000\n[delivery]\nretry_base_seconds = 2.5\n')

# The media helper's frames to the agent: kind (1 byte), length (4 bytes LE), JSON or raw payload.
def frame(kind, payload):
    return struct.pack("<BI", kind, len(payload)) + payload

finding = {"code": "media.truncated", "severity": "high", "detail": "a file ended early"}
record = {"index": 0, "body": "rebuilt", "record": {"path": "/DICOM/IM1", "size": 4, "sha256": "00", "kind": "dicom", "verdict": "clean",
          "findings": [finding], "delivery": "none"}, "summary": {"sopClassUID": "1.2.840.10008.5.1.4.1.1.2", "sopInstanceUID": "1.2.3",
          "studyInstanceUID": "1.2", "seriesInstanceUID": "1.2.4", "patientID": "ID", "patientName": "DOE^JANE", "birthDate": "",
          "modality": "CT", "studyDate": "", "studyDescription": "", "institutionName": "", "transferSyntaxUID": "1.2.840.10008.1.2.1"}}
session = (frame(10, json.dumps({"filesystem": "iso9660", "notes": []}).encode())
           + frame(11, json.dumps({"label": "CD", "findings": [finding], "files": 2, "bytes": 8}).encode())
           + frame(12, json.dumps({"index": 0, "path": "/DICOM/IM1", "size": 4}).encode())
           + frame(16, json.dumps({"id": 1, "engine": 0, "label": "(7FE0,0010)", "count": 4}).encode()) + frame(14, b"DICM") + frame(15, b"{}")
           + frame(13, json.dumps(record).encode()) + frame(14, b"\x00" * 16) + frame(15, json.dumps({"error": None}).encode())
           + frame(17, json.dumps({"findings": [], "unlisted": [0]}).encode()) + frame(18, b""))
seed("FuzzHelperFrames", "session", session)
seed("FuzzHelperFrames", "failed", frame(19, json.dumps({"finding": finding}).encode()))

# WebAuthn: fido2's ceremonies (Tests/TestSupport/fido2_peer.py, valid and mutated, ES256 and RS256) for the
# relying party and challenge FuzzWebAuthn checks against, split the way the target reads them.
root = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [os.path.join(testdata, "pylib"), str(root / "Tests" / "TestSupport")]
import base64, fido2_peer
from fido2 import cbor as fido2_cbor

def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

def field(data):
    return struct.pack(">H", len(data)) + data

for alg in ("ES256", "RS256"):
    ceremonies = fido2_peer.ceremonies("portal.example.org", "https://portal.example.org", bytes(range(32)), alg)
    key = b64url(ceremonies["publicKey"])
    seed("FuzzWebAuthn", f"{alg}-cose-key", b"\x02" + key)
    for case in ceremonies["cases"]:
        name, client_data = f"{alg}-{case['ceremony']}-{case['name']}", b64url(case["clientDataJSON"])
        if case["ceremony"] == "registration":
            attestation = b64url(case["attestationObject"])
            seed("FuzzWebAuthn", name, b"\x04" + field(client_data) + attestation)
            seed("FuzzWebAuthn", name + "-cbor", b"\x00" + attestation)
            try:
                seed("FuzzWebAuthn", name + "-auth-data", b"\x01" + fido2_cbor.decode(attestation)["authData"])
            except ValueError:   # the trailing-bytes case: fido2 refuses to decode it
                pass
        else:
            auth_data, signature = b64url(case["authenticatorData"]), b64url(case["signature"])
            seed("FuzzWebAuthn", name, b"\x05" + field(client_data) + field(auth_data) + field(signature)
                 + struct.pack(">IB", case["storedSignCount"], case["requireUserVerification"]) + key)
            seed("FuzzWebAuthn", name + "-auth-data", b"\x01" + auth_data)
seed("FuzzWebAuthn", "base64url", b"\x03" + b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
