import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// Session summaries as JSON lines in `STATE/analytics/sessions.jsonl`. Appends hold an flock (the
/// service and the CLI may both write); a line that cannot be read is skipped and counted.
public struct AnalyticsStore: Sendable {
    public let directory: URL
    private var file: URL { directory.appendingPathComponent("sessions.jsonl") }

    public init(directory: URL) { self.directory = directory }

    public func append(_ summary: SessionSummary) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        var line = try encoder.encode(summary)
        line.append(UInt8(ascii: "\n"))
        let store: Descriptor
        do { store = try Descriptor.open(file.path, O_WRONLY | O_CREAT | O_APPEND, permissions: 0o640) } catch {
            throw StoreError("cannot open \(file.path): \(error)")
        }
        guard retryingOnInterrupt({ flock(store.rawValue, LOCK_EX) }) == 0 else { throw StoreError("cannot lock \(file.path)") }
        defer { flock(store.rawValue, LOCK_UN) }
        do { try line.withUnsafeBytes { bytes in try store.writeAll(bytes) } } catch {
            throw StoreError("cannot write \(file.path): \(error)")
        }
    }

    /// Every summary kept, oldest first, and how many lines could not be read.
    public func load() -> (summaries: [SessionSummary], unreadable: Int) {
        guard let data = FileManager.default.contents(atPath: file.path) else { return ([], 0) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var summaries: [SessionSummary] = []
        var unreadable = 0
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let summary = try? decoder.decode(SessionSummary.self, from: Data(line)) { summaries.append(summary) } else { unreadable += 1 }
        }
        return (summaries, unreadable)
    }

    public struct StoreError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
