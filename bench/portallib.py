"""Shared by the portal benchmarks (bench/portal-e2e, bench/portal-browser): the release build of dicom-portal, the
sample disc's files, a fresh Orthanc, the plain STOW-RS row, and CPU seconds per process tree."""

import http.client
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchlib import ROOT, Peer, log


def build() -> Path:
    log("swift build -c release --product dicom-portal")
    subprocess.run(["swift", "build", "-c", "release", "--product", "dicom-portal"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out) / "dicom-portal"


def extract(iso: Path, work: Path) -> list[Path]:
    target = work / "extract"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(target)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run(["chmod", "-R", "u+w", str(target)], check=True)
    files = []
    for path in sorted(target.rglob("*")):
        if path.is_file() and path.name != "DICOMDIR" and path.read_bytes()[128:132] == b"DICM":
            files.append(path)
    return files


def sop_uid(data: bytes) -> str:
    """(0008,0018) from an explicit VR little endian data set: enough for the generated disc."""
    at = data.find(b"\x08\x00\x18\x00UI", 132)
    if at < 0:
        raise ValueError("no SOP Instance UID")
    length = int.from_bytes(data[at + 6:at + 8], "little")
    return data[at + 8:at + 8 + length].rstrip(b"\0 ").decode()


class Orthanc(Peer):
    def __init__(self, work: Path):
        work.mkdir(parents=True, exist_ok=True)
        super().__init__("orthanc", work)


# --- STOW-RS --------------------------------------------------------------------------------------------------

def stow(files: list[Path], peer: Orthanc, batch: int, streams: int) -> None:
    def send(group: list[Path]) -> None:
        boundary = uuid.uuid4().hex
        body = bytearray()
        for path in group:
            body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        connection = http.client.HTTPConnection("127.0.0.1", peer.http, timeout=600)
        connection.request("POST", "/dicom-web/studies", body=bytes(body), headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"STOW-RS answered {response.status}")
        connection.close()

    groups = [files[i:i + batch] for i in range(0, len(files), batch)]
    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(send, groups))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (the media helper, the scanner) so far
    (/proc/PID/stat fields 14-17)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class TreeCPU:
    """CPU seconds (user + system) of whole process trees, sampled every 100 ms: a process and every descendant
    (the worker's media helper and scanner, PostgreSQL's backends, Orthanc's threads). Each process counts its own
    time from the first sample to its last, so a child reaped meanwhile is not counted twice through its parent,
    and what a process spent before the measurement (start-up, signature loading, earlier rows) is left out."""

    def __init__(self, roots: dict, alone: tuple = ()):
        # name -> a callable returning the root pid (or None while it is not known yet, e.g. PostgreSQL); the
        # names in `alone` count that process only (this script, whose children are the servers measured)
        self.roots, self.alone, self.seen = roots, alone, {name: {} for name in roots}
        # (time.time(), totals so far) per sample: the totals at a moment found afterwards (`at`)
        self.history: list[tuple[float, dict]] = []
        self.before = {pid: cpu for pid, (_, cpu) in self._table().items()}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    @staticmethod
    def _table() -> dict:
        table = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
                except (OSError, IndexError, ValueError):
                    pass
        return table

    def sample(self) -> None:
        while True:
            table = self._table()
            children = {}
            for pid, (ppid, _) in table.items():
                children.setdefault(ppid, []).append(pid)
            for name, root in self.roots.items():
                pid = root()
                stack = [pid] if pid in table else []
                while stack:
                    current = stack.pop()
                    spent = table[current][1] - self.before.get(current, 0.0)
                    self.seen[name][current] = max(self.seen[name].get(current, 0.0), spent)
                    if name not in self.alone:
                        stack += children.get(current, [])
            self.history.append((time.time(), self.totals()))
            if self.stop_event.wait(0.1):
                return

    def totals(self) -> dict:
        return {name: sum(times.values()) for name, times in self.seen.items()}

    def at(self, moment: float) -> dict:
        """The totals of the last sample taken at or before `moment` (a time.time() value)."""
        found = {name: 0.0 for name in self.roots}
        for taken, totals in self.history:
            if taken > moment:
                break
            found = totals
        return found

    def stop(self) -> dict:
        self.stop_event.set()
        self.thread.join()
        return self.totals()


def postmaster(state: Path):
    """The pid of core's private PostgreSQL cluster, once it runs."""
    def pid():
        try:
            return int((state / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
    return pid


def cpu_line(cpu: dict) -> str:
    """The CPU seconds per process tree, and the wall time that much CPU needs at least on this machine (the
    measured wall can only be longer)."""
    total = sum(cpu.values())
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    return f"{parts}; total {total:.1f} CPU s = at least {total / (os.cpu_count() or 1):.1f} s of wall on {os.cpu_count()} CPUs"


def stow_row(files: list[Path], work: Path, batch: int, streams: int) -> dict:
    with Orthanc(work / "orthanc") as orthanc:
        tree = TreeCPU({"Orthanc": lambda: orthanc.process.pid, "client (python)": os.getpid}, alone=("client (python)",))
        start = time.monotonic()
        stow(files, orthanc, batch, streams)
        wall = time.monotonic() - start
        return {"wall": wall, "count": orthanc.count(), "cpu": tree.stop()}
