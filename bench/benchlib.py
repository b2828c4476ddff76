"""Shared by the bench/ commands: cached sample discs, the release build, timing under GNU time."""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
GENERATOR = ROOT / "scripts" / "make-sample-disc"
CT_GENERATOR = ROOT / "bench" / "make-ct-disc"
GNU_TIME = "/usr/bin/time"
MR_IMAGES = 12


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def disc(ct_images: int) -> Path:
    """The cached ISO for this size, regenerated when the generator changes."""
    key = hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:12]
    path = CACHE / f"disc-ct{ct_images}-{key}.iso"
    if path.exists():
        return path
    for stale in CACHE.glob(f"disc-ct{ct_images}-*.iso"):
        stale.unlink()
    log(f"generating {path.name} ({ct_images} CT + {MR_IMAGES} MR images)")
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(path), "--format", "iso",
                    "--ct-images", str(ct_images), "--mr-images", str(MR_IMAGES), "--label", "BENCH_CD"], check=True)
    return path


def ct_disc(slices: int) -> Path:
    """The cached GE CT disc (bench/make-ct-disc) of this many slices, regenerated when a generator changes."""
    key = hashlib.sha256(CT_GENERATOR.read_bytes() + GENERATOR.read_bytes()).hexdigest()[:12]
    path = CACHE / f"ge-ct{slices}-{key}.iso"
    if path.exists():
        return path
    for stale in CACHE.glob(f"ge-ct{slices}-*.iso"):
        stale.unlink()
    log(f"generating {path.name} ({slices} GE CT slices)")
    subprocess.run([sys.executable, str(CT_GENERATOR), "--out", str(path), "--slices", str(slices)], check=True)
    return path


def warm(path: Path) -> None:
    """Read the whole image so both tools start with it in the page cache."""
    with path.open("rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def build_kiosk() -> Path | None:
    log("swift build -c release --product kiosk-agent")
    built = subprocess.run(["swift", "build", "-c", "release", "--product", "kiosk-agent"], cwd=ROOT)
    if built.returncode != 0:
        log("swift build failed: the kiosk half will not run")
        return None
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
    return Path(bin_dir) / "kiosk-agent"


def timed(command: list[str], work: Path) -> dict:
    """Runs command under GNU time -v; returns wall seconds, peak RSS (KiB) and exit status."""
    report, errors = work / "time.txt", work / "stderr.txt"
    subprocess.run(["sync"], check=False)
    with errors.open("wb") as stderr:   # a file, not a pipe: the tool never waits on our reading
        start = time.monotonic()
        done = subprocess.run([GNU_TIME, "-v", "-o", str(report), *command], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=stderr)
        wall = time.monotonic() - start
    rss_kib = 0
    for line in report.read_text().splitlines():
        if "Maximum resident set size" in line:
            rss_kib = int(line.rsplit(":", 1)[1])
    tail = errors.read_bytes()[-2000:].decode("utf-8", "replace")
    return {"wall": wall, "rss_kib": rss_kib, "status": done.returncode, "stderr": tail}




def _children(pid: int) -> list[int]:
    """Child processes of every thread of pid (each thread's children are listed under its own task)."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _peak_kib(pid: int) -> int | None:
    """VmHWM: the process's own peak resident set so far (what getrusage's ru_maxrss reports for it)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def timed_tree(command: list[str], work: Path, env: dict | None = None) -> dict:
    """Like `timed`, and also samples, every 20 ms, the peak RSS (VmHWM) of the command itself and
    of each of its child processes separately ("rss_self_kib", "rss_children_kib": the largest child).
    "cpu" is user + system seconds of the command and every child it waited for (GNU time).
    GNU time's figure ("rss_kib") is the larger of the two, never their sum: Linux reports a
    process's ru_maxrss together with its reaped children's as a maximum. A sample taken 20 ms
    before the process ends can miss growth in those last 20 ms."""
    report, errors = work / "time.txt", work / "stderr.txt"
    subprocess.run(["sync"], check=False)
    peaks = {"self": 0, "children": 0}
    with errors.open("wb") as stderr:
        start = time.monotonic()
        process = subprocess.Popen([GNU_TIME, "-v", "-o", str(report), *command], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for top in _children(process.pid):         # GNU time's child: the command
                    peaks["self"] = max(peaks["self"], _peak_kib(top) or 0)
                    for child in _children(top):
                        peaks["children"] = max(peaks["children"], _peak_kib(child) or 0)
                stop.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        status = process.wait()
        wall = time.monotonic() - start
        stop.set()
        sampler.join()
    rss_kib, cpu = 0, 0.0
    for line in report.read_text().splitlines():
        if "Maximum resident set size" in line:
            rss_kib = int(line.rsplit(":", 1)[1])
        if "User time (seconds)" in line or "System time (seconds)" in line:
            cpu += float(line.rsplit(":", 1)[1])
    tail = errors.read_bytes()[-2000:].decode("utf-8", "replace")
    return {"wall": wall, "cpu": cpu, "rss_kib": rss_kib, "rss_self_kib": peaks["self"], "rss_children_kib": peaks["children"],
            "status": status, "stderr": tail}


NODELAY = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"peer exited {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Peer:
    """storescp --ignore or a fresh Orthanc (with DICOMweb) in a scratch directory."""

    def __init__(self, kind: str, work: Path):
        self.kind, self.work = kind, work
        self.port = free_port()
        if kind == "storescp":
            command = ["storescp", "--ignore", "+xa", "-aet", "STORESCP", "-pdu", "131072", str(self.port)]
            self.ready_ports = [self.port]
            self.ae = "STORESCP"
        else:
            self.http = free_port()
            config = {"Name": "bench", "StorageDirectory": str(work / "orthanc-storage"),
                      "IndexDirectory": str(work / "orthanc-index"), "DicomPort": self.port, "HttpPort": self.http,
                      "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
                      "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
                      "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "StorageCompression": False,
                      "SaveJobs": False}
            (work / "orthanc.json").write_text(json.dumps(config))
            command = ["Orthanc", str(work / "orthanc.json"), f"--logfile={work / 'orthanc.log'}"]
            self.ready_ports = [self.port, self.http]
            self.ae = "ORTHANC"
        self.command = command

    def __enter__(self):
        self.process = subprocess.Popen(self.command, env=NODELAY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        cwd=self.work)
        for port in self.ready_ports:
            wait_port(port, self.process)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    @property
    def dicom(self) -> str:
        return f"dicom://{self.ae}@127.0.0.1:{self.port}"

    @property
    def stow(self) -> str:
        return f"dicomweb+http://127.0.0.1:{self.http}/dicom-web"

    def count(self) -> int:
        if self.kind != "orthanc":
            return -1
        out = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{self.http}/statistics"], capture_output=True, text=True)
        return json.loads(out.stdout or "{}").get("CountInstances", -1)
