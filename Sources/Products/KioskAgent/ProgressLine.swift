import Foundation
import IngestPipeline
import MediaReader

/// The progress line on stderr for long media: redrawn in place on a terminal, a plain line
/// every few seconds otherwise (journals, CI logs). Counts and rates only, never file names:
/// names on patient media can be patient data.
final class ProgressLine: IngestProgress {
    private let interactive = isatty(STDERR_FILENO) == 1
    private var totalFiles = 0
    private var totalBytes: Int64 = 0
    private var files = 0
    private var bytes: Int64 = 0
    private var started = Date()
    private var lastDraw = Date()

    func start(files: Int, bytes: Int64) {
        totalFiles = files
        totalBytes = bytes
        started = Date()
        lastDraw = started  // short media finish without a progress line
    }

    func advance(bytes size: Int64) {
        files += 1
        bytes += size
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= (interactive ? 0.25 : 5) else { return }
        lastDraw = now
        draw(now)
    }

    func finish() {
        if interactive && lastDraw > started { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func draw(_ now: Date) {
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(bytes) / elapsed / 1_000_000
        let remaining = rate > 0 ? Double(totalBytes - bytes) / 1_000_000 / rate : 0
        let line = String(format: "reading %d/%d files, %.0f/%.0f MB, %.1f MB/s, ~%.0f s left",
                          files, totalFiles, Double(bytes) / 1_000_000, Double(totalBytes) / 1_000_000, rate, remaining)
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }
}
