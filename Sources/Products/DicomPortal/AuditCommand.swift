import ArgumentParser
import Foundation
import PortalStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The portal's hash-chained audit table.",
        subcommands: [Verify.self, Search.self, Report.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain: exit 0 when intact, 1 naming the first altered record, a cut end or a failed kiosk segment.",
            discussion: """
                Records removed from the end of the chain are found against the heads core copies to \
                STATE/audit-anchors (at start and every sweep). Also lists, per kiosk, how many of its sessions' \
                trail segments verified against its signed checkpoints, came unsigned or failed.
                """)

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.audit")
            let anchors: [AuditAnchors.Anchor]
            do {
                anchors = try AuditAnchors(path: options.stateDirectory.auditAnchors.path).read()
            } catch {
                fail("\(error)", status: .problem)
            }
            let (verdict, kiosks) = try await opened.use { database in
                (try await AuditLog(database).verify(anchors: anchors), try await KioskTrails(database).summary())
            }
            print(verdict)
            for kiosk in kiosks {
                print("kiosk \(kiosk.kiosk): \(kiosk.verified) segment(s) verified, \(kiosk.unsigned) unsigned, \(kiosk.failed) failed"
                      + (kiosk.lastProblem.map { " (latest failure: \($0))" } ?? ""))
            }
            if case .intact = verdict, kiosks.allSatisfy({ $0.failed == 0 }) { return }
            throw ExitCode(PortalExit.problem.rawValue)
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Audit records by patient, staff member, kiosk, time and event type, oldest first.")

        @OptionGroup var options: PortalOptions
        @Option(help: "The patient, by the portal's number (patient list).") var patient: Int64?
        @Option(help: "A staff member's username.") var staff: String?
        @Option(help: "A kiosk's name.") var kiosk: String?
        @Option(help: "From this time (2026-12-05 or 2026-12-05T10:00:00Z).") var since: String?
        @Option(help: "Before this time.") var until: String?
        @Option(help: "An event type prefix (review. or batch.delivered).") var type: String?
        @Flag(help: "CSV (RFC 4180) instead of text.") var csv = false

        func run() async throws {
            let query = AuditQuery(patient: patient, staff: staff, kiosk: kiosk, from: try parseTime(since, "--since"), to: try parseTime(until, "--until"),
                                   typePrefix: type)
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.audit")
            if csv { print(AuditCSV.header, terminator: "") }
            try await opened.use { database in
                try await AuditSearch(database).each(query) { record in
                    if csv { print(AuditCSV.row(record), terminator: "") } else {
                        print("\(record.seq)  \(AuditCSV.timestamp(record.at))  \(record.eventType)  \(record.actor)  \(record.detail.canonical)")
                    }
                }
            }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who touched a patient's data: every actor with what they did and when, then the records.")

        @OptionGroup var options: PortalOptions
        @Option(help: "The patient, by the portal's number.") var patient: Int64
        @Flag(help: "CSV (RFC 4180): one row per actor and event type.") var csv = false

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.audit")
            let report = try await opened.use { database in
                let report = try await AuditSearch(database).accessReport(patient: patient)
                try await AuditLog(database).append(eventType: AuditEvent.auditAccessReport, actor: "cli",
                                                    detail: ["patient": .integer(patient), "records": .integer(Int64(report.records.count))])
                return report
            }
            if csv {
                print(AuditCSV.line(["actor", "kind", "event_type", "count", "first", "last"]), terminator: "")
                for actor in report.actors {
                    for (event, count) in actor.events.sorted(by: { $0.key < $1.key }) {
                        print(AuditCSV.line([actor.actor, actor.kind.rawValue, event, String(count),
                                             AuditCSV.timestamp(actor.first), AuditCSV.timestamp(actor.last)]), terminator: "")
                    }
                }
                return
            }
            print("patient \(patient): \(report.actors.count) actor(s)")
            for actor in report.actors {
                print("\(actor.actor) (\(actor.kind.rawValue)): \(actor.count) record(s), \(AuditCSV.timestamp(actor.first)) .. \(AuditCSV.timestamp(actor.last))")
                for (event, count) in actor.events.sorted(by: { $0.key < $1.key }) { print("    \(event) ×\(count)") }
            }
            print("")
            for record in report.records {
                print("\(record.seq)  \(AuditCSV.timestamp(record.at))  \(record.eventType)  \(record.actor)  \(record.detail.canonical)")
            }
            if report.truncated { print("(more records than \(AuditSearch.maxReportRecords); `audit search --patient \(patient)` lists them all)") }
        }
    }
}

/// A time option: ISO 8601 (with or without fractional seconds) or a day, UTC.
private func parseTime(_ text: String?, _ option: String) throws -> Date? {
    guard let text else { return nil }
    let format = ISO8601DateFormatter()
    if let date = format.date(from: text) { return date }
    format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = format.date(from: text) { return date }
    format.formatOptions = [.withFullDate]
    if let date = format.date(from: text) { return date }
    throw ValidationError("\(option) must be a day (2026-12-05) or a time (2026-12-05T10:00:00Z)")
}
