import ATNA
import Foundation
import Logging
import PortalStore
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Core's IHE ATNA forwarding, as the kiosk forwards its trail: the central audit table is the queue
/// (`ATNAQueue`), each record becomes the DICOM audit messages `PortalEventMapping` makes, sent through the ATNA
/// module's syslog transport. The position moves only after a batch went out, so a record is sent at least once,
/// resumes where it stopped after a restart, and waits in the table while the repository is away.
public struct PortalATNAForwarder: Service, Sendable {
    public let queue: ATNAQueue
    public let mapping: PortalEventMapping
    public let sender: SyslogSender
    public let interval: Duration
    public var batch = 100
    let logger: Logger

    public init(database: PortalDatabase, mapping: PortalEventMapping, sender: SyslogSender, interval: Duration = .seconds(10), logger: Logger) {
        queue = ATNAQueue(database)
        self.mapping = mapping; self.sender = sender; self.interval = interval; self.logger = logger
    }

    /// From the pipeline's `[atna]` settings as core has them: core as the AE `aeTitle` on `host`, delivering to
    /// `destination`, reporting as `auditSourceID` (default: the host) at `enterpriseSiteID`.
    public init(database: PortalDatabase, sender: SyslogSender, aeTitle: String, host: String, destination: String,
                auditSourceID: String?, enterpriseSiteID: String?, logger: Logger) {
        self.init(database: database, mapping: PortalEventMapping(aeTitle: aeTitle, host: host, destination: destination,
                                                                  source: AuditSource(id: auditSourceID ?? host, enterpriseSiteID: enterpriseSiteID)),
                  sender: sender, logger: logger)
    }

    public struct Outcome: Sendable, Equatable {
        /// Records forwarded (the position moved past them) and the messages they made.
        public var records = 0, messages = 0
        /// Messages too large for a UDP datagram, not sent.
        public var skipped = 0
        /// Why the rest stays queued; nil when the queue was emptied.
        public var error: String?
    }

    /// Sends everything queued, batch by batch, until done or the repository fails.
    public func forward(processID: Int32 = getpid()) async -> Outcome {
        var outcome = Outcome()
        do {
            while true {
                let pending = try await queue.pending(limit: batch)
                guard let last = pending.last else { return outcome }
                var messages = pending.flatMap { item in
                    mapping.messages(for: Self.record(item)).map {
                        Syslog.message($0.xml(), time: item.entry.at, host: mapping.host, processID: processID, appName: PortalEventMapping.appName)
                    }
                }
                if sender.repository.transport == .udp {
                    let fitting = messages.filter { $0.count <= 65_000 }
                    outcome.skipped += messages.count - fitting.count
                    messages = fitting
                }
                try await sender.send(messages)
                try await queue.advance(to: last.entry.seq)
                outcome.records += pending.count
                outcome.messages += messages.count
            }
        } catch {
            outcome.error = String(describing: error)
            return outcome
        }
    }

    /// Forwards at start and every `interval` until graceful shutdown; says so once when the repository stops and
    /// when it answers again.
    public func run() async throws {
        var failing = false
        while !Task.isCancelled {
            let outcome = await forward()
            if let error = outcome.error, !failing {
                failing = true
                logger.warning("ATNA: the audit repository does not take messages; records stay queued", metadata: [
                    "repository": "\(sender.repository)", "error": "\(error)"])
            } else if outcome.error == nil, failing {
                failing = false
                logger.notice("ATNA: the audit repository takes messages again", metadata: ["records": "\(outcome.records)"])
            }
            if outcome.skipped > 0 { logger.warning("ATNA: messages larger than a UDP datagram were not sent", metadata: ["messages": "\(outcome.skipped)"]) }
            // Graceful shutdown cuts the wait short and ends the loop; what is queued goes at the next start.
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
        }
    }

    /// The record as the mapping reads it: detail scalars as text, the looked-up patient and studies.
    static func record(_ item: ATNAPending) -> PortalAuditRecord {
        var detail: [String: String] = [:]
        if case .object(let members) = item.entry.detail {
            for (key, value) in members {
                switch value {
                case .null: continue
                case .string(let text): detail[key] = text
                case .integer(let number): detail[key] = String(number)
                case .bool(let flag): detail[key] = flag ? "true" : "false"
                default: detail[key] = value.canonical
                }
            }
        }
        let patient = item.patientID.map { PortalAuditRecord.Patient(id: $0, issuer: item.patientIssuer ?? "", name: item.patientName ?? "") }
        return PortalAuditRecord(seq: item.entry.seq, time: item.entry.at, type: item.entry.eventType, actor: item.entry.actor,
                                 detail: detail, patient: patient, studies: item.studies)
    }
}
