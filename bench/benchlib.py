"""Shared by the bench/ commands: cached sample discs, the release build, timing under GNU time."""

import hashlib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
GENERATOR = ROOT / "scripts" / "make-sample-disc"
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


