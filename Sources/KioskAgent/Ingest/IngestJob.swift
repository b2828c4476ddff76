import ArgumentParser
import Delivery
import Foundation
import Protector
import SessionReport

/// One medium through the whole pipeline, as `ingest` and the kiosk service both run it: open the
/// destination (archive, or spool plus sender), run the session, keep the report in the state
/// directory (and beside quarantined originals).
struct IngestJob {
    var source: String
    var destination: Destination
    var configuration: Configuration
    var stateDirectory: URL
    var protector: Protector
    var expected: IdentityCheck?
    var identityOverride: String?
    var callingAE: String?
    /// Send while reading (`ingest`, headless); false keeps the study in the spool until the
    /// operator has reviewed it (the screen's "Send").
    var deliverWhileReading = true
    /// The spool to use (the service shares one); nil opens the state directory's.
    var spool: Spool?
    var started = Date()
    lazy var sessionID = IngestJob.newSessionID(started)

    /// The report, the exit status, the report's JSON and where it was kept.
    mutating func run(progress: (any IngestProgress)?) async throws -> (Report, ExitStatus, Data, String) {
        let outbox: Outbox
        var drainer: SpoolDrainer?
        switch destination {
        case let .archive(root):
            do {
                try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
                outbox = .archive(try Archive(root: root))
            } catch {
                throw ValidationError("cannot open the archive at \(root.path): \(error)")
            }
        case .dicom, .dicomweb:
            let target = try DeliverySetup.target(for: destination, configuration, callingAE: callingAE)
            let spool = try self.spool ?? SpoolSetup.open(stateDirectory, configuration)
            outbox = .spool(spool, destination: target.destination, held: !deliverWhileReading)
            if deliverWhileReading { drainer = SpoolDrainer(spool: spool, target: target) }
        }
        let sessionID = self.sessionID
        let session = IngestSession(settings: .init(
            sourcePath: source, outbox: outbox, destination: destination.description, drainer: drainer, expected: expected,
            identityOverride: identityOverride, configuration: configuration, stateDirectory: stateDirectory, sessionID: sessionID,
            protector: protector, progress: progress))
        let (result, exit) = await session.run()

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(result)
        // Every session's report is also kept in the state directory, for audit.
        let kept = stateDirectory.appendingPathComponent("reports").appendingPathComponent("\(sessionID).json")
        do {
            try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: kept, options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("warning: could not keep the report in \(kept.path): \(error)\n".utf8))
        }
        // Quarantined originals keep the session's report beside them, for forensics.
        let quarantine = stateDirectory.appendingPathComponent("quarantine").appendingPathComponent(sessionID)
        if FileManager.default.fileExists(atPath: quarantine.path) {
            let copy = quarantine.appendingPathComponent("report.json")
            do {
                try data.write(to: copy, options: .atomic)
                try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: copy.path)
            } catch {
                FileHandle.standardError.write(Data("warning: could not keep the report in \(copy.path): \(error)\n".utf8))
            }
        }
        return (result, exit, data, kept.path)
    }

    static func newSessionID(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date) + "-" + UUID().uuidString.prefix(8).lowercased()
    }
}
