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
