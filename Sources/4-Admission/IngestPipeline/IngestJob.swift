import AgentConfiguration
import Analytics
import AuditTrail
import Delivery
import Foundation
import PortalProtocol
import Protector
import SessionReceipt
import SessionReport

/// One medium through the whole pipeline, as `ingest` and the kiosk service both run it: open the
/// destination (archive, or spool plus sender), run the session, keep the report in the state
/// directory (and beside quarantined originals).
public struct IngestJob {
    public var source: String
    public var destination: Destination
    public var configuration: Configuration
    public var stateDirectory: StateDirectory
    public var protector: Protector
    public var expected: IdentityCheck?
    public var identityOverride: String?
    public var callingAE: String?
    /// Send while reading (`ingest`, headless); false keeps the study in the spool until the
    /// operator has reviewed it (the screen's "Send").
    public var deliverWhileReading = true
    /// The spool to use (the service shares one); nil opens the state directory's.
    public var spool: Spool?
    /// What the destination already holds, shared with other processes delivering there (the portal's
    /// workers); nil sends everything the spool holds.
    public var ledger: (any DeliveryLedger)?
    /// Who runs it, for the audit trail: an operator's name, "cli" or "service".
    public var actor = "cli"
    /// The medium for the audit trail's Data Import (`cd`, `dvd`, `usb`, `file`, `directory`); nil guesses from the source.
    public var mediaKind: String?
    public var started = Date()
    public lazy var sessionID = IngestJob.newSessionID(started)

    public init(source: String, destination: Destination, configuration: Configuration, stateDirectory: StateDirectory, protector: Protector,
                expected: IdentityCheck?, identityOverride: String?, callingAE: String?) {
        self.source = source
        self.destination = destination
        self.configuration = configuration
        self.stateDirectory = stateDirectory
        self.protector = protector
        self.expected = expected
        self.identityOverride = identityOverride
        self.callingAE = callingAE
    }

    /// The report, the exit status, the report's JSON and where it was kept.
    public mutating func run(progress: (any IngestProgress)?) async throws -> (Report, ExitStatus, KeptReport, String) {
        let sink: any DeliverySink
        var drainer: SpoolDrainer?
        // A portal destination also gets the session's signed manifest, once the session has ended.
        var portal: SpoolDrainer?
        switch destination {
        case let .archive(root):
            do {
                try FileManager.default.createDirectory(at: stateDirectory.root, withIntermediateDirectories: true)
                sink = try Archive(root: root)
            } catch {
                throw SetupError("cannot open the archive at \(root.path): \(error)")
            }
        case .dicom, .dicomweb, .portal:
            var target = try DeliverySetup.target(for: destination, configuration, callingAE: callingAE)
            if let ledger { target = LedgeredTarget(target, ledger: ledger) }
            let spool = try self.spool ?? SpoolSetup.open(stateDirectory, configuration)
            sink = spool.sink(destination: target.destination, held: !deliverWhileReading)
            if deliverWhileReading {
                drainer = SpoolDrainer(spool: spool, target: target, observer: TransferAudit(stateDirectory: stateDirectory, actor: actor))
            }
            if case .portal = destination { portal = SpoolDrainer(spool: spool, target: target) }
        }
        let sessionID = self.sessionID
        let session = IngestSession(settings: .init(
            sourcePath: source, sink: sink, destination: destination.description, drainer: drainer, expected: expected,
            identityOverride: identityOverride, configuration: configuration, stateDirectory: stateDirectory, sessionID: sessionID,
            protector: protector, progress: progress))
        var (result, exit) = await session.run()
        let finished = Date()
        result.sessionID = sessionID
        result.startedAt = IngestJob.timestamp(started)
        result.finishedAt = IngestJob.timestamp(finished)
        result.lookupCode = LookupCode.generate()

        // Every session's report is also kept in the state directory, for audit; written record by
        // record, never whole in memory.
        let kept = stateDirectory.report(sessionID)
        var text = KeptReport.file(kept)
        do {
            try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
            try ReportJSON.write(result, to: kept)
        } catch {
            FileHandle.standardError.write(Data("warning: could not keep the report in \(kept.path): \(error)\n".utf8))
            text = .memory(try ReportJSON.encode(result))
        }
        // Quarantined originals keep the session's report beside them, for forensics.
        let quarantine = stateDirectory.quarantine(sessionID)
        if FileManager.default.fileExists(atPath: quarantine.path) {
            let copy = quarantine.appendingPathComponent("report.json")
            do {
                try text.copy(to: copy)
                try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: copy.path)
            } catch {
                FileHandle.standardError.write(Data("warning: could not keep the report in \(copy.path): \(error)\n".utf8))
            }
        }
        receipt = ReceiptFiles.write(result, sessionID: sessionID, finished: finished, operatorName: actor == "cli" || actor == "service" ? nil : actor,
                                     stateDirectory: stateDirectory, settings: configuration.receipt)
        do { try AnalyticsStore(directory: stateDirectory.analytics).append(SessionSummary(result, exit: Int(exit.rawValue))) } catch {
            FileHandle.standardError.write(Data("warning: the analytics summary could not be kept: \(error)\n".utf8))
        }
        let events = auditEvents(result, exit: exit, sessionID: sessionID)
        // The lines as written, with the trail's public key, travel in the portal's manifest for core to verify.
        var trail: (lines: [String], key: String?)?
        do {
            let log = try AuditLog(directory: stateDirectory.audit)
            trail = (try log.append(events, checkpoint: true), log.publicKeyText)
        } catch {
            FileHandle.standardError.write(Data("warning: the audit trail could not be written: \(error)\n".utf8))
        }
        if let portal {
            exit = max(exit, await sendManifest(result, events: events, trail: trail, through: portal, sessionID: sessionID))
        }
        do {
            await ATNASetup.forward(try ATNASetup.forwarder(stateDirectory, configuration)) {
                FileHandle.standardError.write(Data(($0 + "\n").utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("warning: ATNA: \(error)\n".utf8))
        }
        return (result, exit, text, kept.path)
    }

    /// Queues the session's manifest durably for the portal and, when delivering now, sends it; a manifest the
    /// portal has not taken yet leaves the session pending (the background drain sends it later).
    private func sendManifest(_ report: Report, events: [AuditEvent], trail: (lines: [String], key: String?)?, through drainer: SpoolDrainer,
                              sessionID: String) async -> ExitStatus {
        do {
            let credentials = try DeliverySetup.portalCredentials(configuration.portal, destination: destination.description)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let audit = try events.map { event in
                String(decoding: try encoder.encode(ManifestAuditRecord(type: event.type.rawValue, actor: event.actor, session: event.session,
                                                                        details: event.details)), as: UTF8.self)
            }
            let manifest = try KioskManifest.build(
                session: sessionID, report: report, spool: drainer.spool, destination: drainer.target.destination, kiosk: credentials.name,
                operatorName: actor, audit: audit, analytics: try JSONDocument(encoding: SessionSummary(report, exit: 0)),
                trail: trail?.lines, auditKey: trail?.key)
            try PortalManifests(spoolDirectory: drainer.spool.directory).enqueue(manifest)
        } catch {
            FileHandle.standardError.write(Data("warning: the session's manifest for the portal could not be queued: \(error)\n".utf8))
            return .deliveryPending
        }
        guard deliverWhileReading else { return .delivered }
        for outcome in await drainer.sendManifests() {
            switch outcome {
            case .sent: continue
            case let .pending(session, reason) where session == sessionID:
                FileHandle.standardError.write(Data("the portal has not taken the session's manifest yet (\(reason)); it is sent again later\n".utf8))
                return .deliveryPending
            case let .refused(session, code, reason) where session == sessionID:
                FileHandle.standardError.write(Data("the portal refused the session's manifest (\(code): \(reason))\n".utf8))
                return .deliveryPending
            default: continue
            }
        }
        return .delivered
    }

    /// Where the session's receipt was kept (HTML and text), once `run` has finished.
    public private(set) var receipt: ReceiptFiles.Kept?

    /// The medium in the audit trail's words (PS3.15 media types).
    private func medium(_ report: Report) -> String {
        if let mediaKind { return mediaKind }
        switch report.source.filesystem {
        case "directory": return "directory"
        case "vfat", "exfat": return source.hasPrefix("/dev/") ? "usb" : "file"
        default:
            guard source.hasPrefix("/dev/") else { return "file" }
            return report.files.reduce(Int64(0)) { $0 + $1.size } > 900_000_000 ? "dvd" : "cd"
        }
    }

    /// The session in the audit trail: what was imported for whom, what was found, quarantined,
    /// overridden and delivered where.
    private func auditEvents(_ report: Report, exit: ExitStatus, sessionID: String) -> [AuditEvent] {
        var events: [AuditEvent] = []
        let totals = report.totals
        var end: [String: String] = [
            "source": report.source.path, "filesystem": report.source.filesystem, "destination": destination.description,
            "exit": String(exit.rawValue), "files": String(totals.files), "dicom": String(totals.dicom), "clean": String(totals.clean),
            "disarmed": String(totals.disarmed), "rejected": String(totals.rejected), "discarded": String(totals.discarded),
            "delivered": String(totals.delivered), "spooled": String(report.files.filter { $0.delivery == .spooled }.count),
            "failed": String(report.files.filter { $0.delivery == .failed }.count),
            "patients": Set(report.studies.map(\.patientID)).sorted().joined(separator: ","),
            "studies": report.studies.map(\.studyInstanceUID).joined(separator: ","),
        ]
        if let expected = report.expectedPatient?.id { end["expectedPatientID"] = expected }
        if let code = report.lookupCode { end["lookupCode"] = code }
        let media = medium(report)
        events.append(AuditEvent(.sessionStart, actor: actor, session: sessionID,
                                 details: ["source": report.source.path, "filesystem": report.source.filesystem, "media": media]))
        for study in report.studies {
            events.append(AuditEvent(.identityDecision, actor: actor, session: sessionID,
                                     details: ["study": study.studyInstanceUID, "patientID": study.patientID, "result": study.identity.rawValue]))
        }
        if let reason = report.identityOverride {
            events.append(AuditEvent(.identityOverride, actor: actor, session: sessionID, details: ["reason": reason]))
        }
        // What was imported, per study (ATNA Data Import), and where demographics were coerced (Patient Record).
        for study in report.studies where study.identity != .mismatch || report.identityOverride != nil {
            let details = ["study": study.studyInstanceUID, "patientID": study.patientID, "patientName": study.patientName,
                           "instances": String(study.instances), "sopClasses": TransferAudit.sopClasses(study.sopClasses ?? [:]),
                           "source": report.source.path, "media": media, "destination": destination.description,
                           "override": study.identity == .mismatch ? "yes" : "no"]
            events.append(AuditEvent(.importStudy, actor: actor, session: sessionID, details: details))
            let coerced = report.files.filter { $0.studyInstanceUID == study.studyInstanceUID }
                .flatMap(\.findings).filter { $0.code == .reconciliationCoerced }.map(\.detail)
            if !coerced.isEmpty {
                events.append(AuditEvent(.patientUpdated, actor: actor, session: sessionID, details: [
                    "study": study.studyInstanceUID, "patientID": study.patientID, "patientName": study.patientName,
                    "attributes": Array(Set(coerced)).sorted().joined(separator: "; ")]))
            }
        }
        for file in report.files where file.findings.contains(where: { $0.severity >= .medium }) || file.verdict == .rejected {
            var details = ["path": file.path, "verdict": file.verdict.rawValue,
                           "codes": file.findings.filter { $0.severity >= .medium }.map(\.code.rawValue).joined(separator: ",")]
            if let sop = file.sopInstanceUID { details["sopInstanceUID"] = sop }
            if let sha = file.sha256 { details["sha256"] = sha }
            events.append(AuditEvent(file.verdict == .rejected ? .quarantine : .finding, actor: actor, session: sessionID, details: details))
        }
        for finding in report.media.findings where finding.severity >= .medium {
            events.append(AuditEvent(.finding, actor: actor, session: sessionID, details: ["code": finding.code.rawValue, "scope": "media"]))
        }
        events.append(AuditEvent(.sessionEnd, actor: actor, session: sessionID, details: end))
        return events
    }

    public static func timestamp(_ date: Date) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.string(from: date)
    }

    public static func newSessionID(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date) + "-" + UUID().uuidString.prefix(8).lowercased()
    }
}

/// The session report's JSON: the file kept in the state directory, or the text itself when that
/// could not be written. Copied and printed in pieces, never read whole.
public enum KeptReport: Sendable {
    case file(URL)
    case memory(Data)

    /// Writes a copy to `url` through a temporary file renamed into place.
    public func copy(to url: URL) throws {
        switch self {
        case let .memory(data):
            try data.write(to: url, options: .atomic)
        case .file:
            try ReportJSON.replace(url) { try write(to: $0) }
        }
    }

    public func write(to handle: FileHandle) throws {
        switch self {
        case let .memory(data):
            try handle.write(contentsOf: data)
        case let .file(url):
            let source = try FileHandle(forReadingFrom: url)
            defer { try? source.close() }
            while let chunk = try source.read(upToCount: 1 << 16), !chunk.isEmpty {
                try handle.write(contentsOf: chunk)
            }
        }
    }
}

/// An audit trail event as the portal's manifest carries it.
private struct ManifestAuditRecord: Encodable {
    let type: String
    let actor: String
    let session: String?
    let details: [String: String]
}
