import AgentConfiguration
import Delivery
import Foundation
import SessionReceipt
import SessionReport

/// Every session's receipt, kept in `STATE/receipts` as `<session>.html` (self-contained, for
/// staff to show or e-mail) and `<session>.txt` (for a receipt printer), and printed through CUPS.
public enum ReceiptFiles {
    public struct Kept: Sendable {
        public var html: URL
        public var text: URL
        public var lookupCode: String
    }

    public static func write(_ report: Report, sessionID: String, finished: Date, operatorName: String?, stateDirectory: StateDirectory,
                      settings: Configuration.ReceiptSettings) -> Kept? {
        guard let code = report.lookupCode else { return nil }
        let receipt = Receipt(report: report, sessionID: sessionID, lookupCode: code, finished: finished,
                              station: settings.station ?? ATNASetup.hostName(), operatorName: operatorName)
        let directory = stateDirectory.receipts
        let kept = Kept(html: directory.appendingPathComponent("\(sessionID).html"), text: directory.appendingPathComponent("\(sessionID).txt"),
                        lookupCode: code)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            // Receipts name the patient: readable by the service's group only.
            for (url, text) in [(kept.html, receipt.html()), (kept.text, receipt.text(width: settings.width))] {
                try Data(text.utf8).write(to: url, options: .atomic)
                try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: url.path)
            }
        } catch {
            FileHandle.standardError.write(Data("warning: the receipt could not be kept in \(directory.path): \(error)\n".utf8))
            return nil
        }
        return kept
    }

    /// Writes the receipt again with each instance's delivery as the spool has it now (a study held
    /// for review is delivered after the report was written). Same lookup code.
    public static func refresh(session: String, spool: Spool?, operatorName: String?, stateDirectory: StateDirectory,
                        settings: Configuration.ReceiptSettings) -> Kept? {
        let url = stateDirectory.report(session)
        guard let data = FileManager.default.contents(atPath: url.path), var report = try? JSONDecoder().decode(Report.self, from: data) else {
            return nil
        }
        if let spool, let rows = try? spool.instances(session: session) {
            var states: [String: SpooledInstance.State] = [:]
            for row in rows { states[row.sopInstanceUID] = row.state }
            for index in report.files.indices {
                guard let uid = report.files[index].sopInstanceUID, let state = states[uid] else { continue }
                report.files[index].delivery = switch state { case .stored: .stored; case .failed: .failed; case .pending, .sending: .spooled }
            }
            report.totals.delivered = report.files.filter { $0.delivery == .stored }.count
        }
        let finished = report.finishedAt.flatMap { ISO8601DateFormatter.withFractions.date(from: $0) } ?? Date()
        return write(report, sessionID: session, finished: finished, operatorName: operatorName, stateDirectory: stateDirectory, settings: settings)
    }

    /// Finds a session's receipt by its lookup code (any spelling `LookupCode` accepts) or session ID.
    public static func find(_ key: String, stateDirectory: StateDirectory) -> Kept? {
        let directory = stateDirectory.receipts
        func kept(_ session: String, _ code: String) -> Kept {
            Kept(html: directory.appendingPathComponent("\(session).html"), text: directory.appendingPathComponent("\(session).txt"), lookupCode: code)
        }
        let reports = stateDirectory.reports
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(key).txt").path),
           let report = try? JSONDecoder().decode(Report.self, from: Data(contentsOf: reports.appendingPathComponent("\(key).json"))) {
            return kept(key, report.lookupCode ?? "")
        }
        guard let code = LookupCode.normalize(key) else { return nil }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: reports.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted().reversed()
        for name in names {
            // The code is near the end of the pretty-printed JSON; decoding every report fully is not needed.
            guard let data = FileManager.default.contents(atPath: reports.appendingPathComponent(name).path),
                  String(decoding: data, as: UTF8.self).contains("\"lookupCode\" : \"\(code)\"") else { continue }
            return kept(String(name.dropLast(".json".count)), code)
        }
        return nil
    }

    /// Prints the text receipt on a CUPS queue with `lp`; the error says what CUPS answered.
    public static func print(_ kept: Kept, printer: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/lp")
        process.arguments = ["-d", printer, "-t", "kiosk-agent receipt \(kept.lookupCode)", "-o", "raw", kept.text.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw PrintError("cannot run lp (install cups-client): \(error)") }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PrintError("lp -d \(printer) failed: \(String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    public struct PrintError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}

extension ISO8601DateFormatter {
    /// The form the reports use: `2026-11-25T10:15:02.123Z`.
    static var withFractions: ISO8601DateFormatter {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format
    }
}
