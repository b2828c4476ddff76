# shellcheck shell=bash
# Sourced by the scripts: puts the Swift toolchain on PATH when it is unpacked at /opt/swift but the
# caller's PATH (sudo, CI, cron) does not include it.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
