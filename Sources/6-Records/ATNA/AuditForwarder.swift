import AuditTrail
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Forwards the audit trail to the ATNA repository. The trail itself is the queue: `atna.cursor`
/// holds the sequence number of the last record sent, and moves only after a batch was sent, so
/// nothing recorded while the repository was unreachable is lost — it goes at the next attempt.
public struct AuditForwarder: Sendable {
    public let directory: URL
    public let mapping: EventMapping
    public let sender: SyslogSender
    public var batch = 100

    public init(directory: URL, mapping: EventMapping, sender: SyslogSender) {
        self.directory = directory; self.mapping = mapping; self.sender = sender
    }

    public struct Outcome: Sendable, Equatable {
        /// Records past the cursor at the start and those sent (with the messages they made).
        public var records = 0, sent = 0, messages = 0
        /// Messages that cannot travel at all (larger than a UDP datagram), skipped with this count.
        public var skipped = 0
        /// Why the rest stays queued; nil when the queue is empty.
        public var error: String?
        /// Another process was forwarding; nothing was done.
        public var busy = false
    }

    /// Sends everything queued, batch by batch, until done or the repository fails. With `wait`, a
    /// forward already running in another task or process is waited for (the service's last one).
    public func forward(processID: Int32 = getpid(), wait: Bool = false) async -> Outcome {
        var outcome = Outcome()
        let lock = open(directory.appendingPathComponent(".atna-lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { outcome.error = "cannot open the forwarding lock: \(String(cString: strerror(errno)))"; return outcome }
        defer { close(lock) }
        guard flock(lock, wait ? LOCK_EX : LOCK_EX | LOCK_NB) == 0 else { outcome.busy = true; return outcome }
        defer { flock(lock, LOCK_UN) }
        do {
            // Read once, send in batches: the cursor moves after each batch that went out.
            let pending = try AuditReader.records(directory, after: cursorValue())
            outcome.records = pending.count
            for start in stride(from: 0, to: pending.count, by: batch) {
                let records = pending[start..<min(start + batch, pending.count)]
                var messages = records.flatMap { record in
                    mapping.messages(for: record).map { Syslog.message($0.xml(), time: record.time, host: mapping.host, processID: processID) }
                }
                if sender.repository.transport == .udp {
                    let fitting = messages.filter { $0.count <= 65_000 }
                    outcome.skipped += messages.count - fitting.count
                    messages = fitting
                }
                try await sender.send(messages)
                try saveCursor(records[records.endIndex - 1].seq)
                outcome.sent += records.count
                outcome.messages += messages.count
            }
            return outcome
        } catch {
            outcome.error = String(describing: error)
            return outcome
        }
    }

    /// Records not yet sent.
    public func queued() -> Int {
        (try? AuditReader.records(directory, after: cursorValue()).count) ?? 0
    }

    private var cursorURL: URL { directory.appendingPathComponent("atna.cursor") }

    private func cursorValue() -> Int {
        (try? String(contentsOf: cursorURL, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    private func saveCursor(_ seq: Int) throws {
        try Data("\(seq)\n".utf8).write(to: cursorURL, options: .atomic)
    }
}
