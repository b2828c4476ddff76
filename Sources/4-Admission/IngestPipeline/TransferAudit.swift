import AuditTrail
import Delivery
import Foundation

/// Writes the audit trail's transfer records as the spool drains: `transfer.begin` for a study's
/// instances on their first attempt, `transfer` when they are stored or have failed for good
/// (retries in between are the spool's business). ATNA turns them into Begin Transferring DICOM
/// Instances and DICOM Instances Transferred.
public struct TransferAudit: DeliveryObserver {
    public let directory: URL
    public let actor: String

    public init(stateDirectory: StateDirectory, actor: String) {
        directory = stateDirectory.audit; self.actor = actor
    }

    public func claimed(_ instances: [SpooledInstance]) async {
        let first = instances.filter { $0.attempts == 1 }
        write(TransferAudit.groups(first.map { ($0, nil) }).map { key, rows in
            AuditEvent(.transferBegin, actor: actor, session: key.session, details: details(key, rows))
        })
    }

    public func finished(_ results: [(SpooledInstance, Spool.Result)]) async {
        let final = results.filter { if case .retry = $0.1 { false } else { true } }
        write(TransferAudit.groups(final.map { ($0.0, $0.1) }).map { key, rows in
            var details = details(key, rows.filter { if case .stored = $0.1 { true } else { false } })
            let failed = rows.compactMap { row -> String? in if case let .failed(code, _) = row.1 { code } else { nil } }
            details["stored"] = String(rows.count - failed.count)
            details["failed"] = String(failed.count)
            if !failed.isEmpty { details["failures"] = Set(failed).sorted().joined(separator: ",") }
            return AuditEvent(.transfer, actor: actor, session: key.session, details: details)
        })
    }

    public struct Key: Hashable { var session: String, study: String, destination: String, patientID: String }

    public static func groups(_ rows: [(SpooledInstance, Spool.Result?)]) -> [(Key, [(SpooledInstance, Spool.Result?)])] {
        var groups: [Key: [(SpooledInstance, Spool.Result?)]] = [:]
        for row in rows {
            groups[Key(session: row.0.sessionID, study: row.0.studyInstanceUID, destination: row.0.destination,
                       patientID: row.0.patientID ?? ""), default: []].append(row)
        }
        return groups.sorted { ($0.key.session, $0.key.study) < ($1.key.session, $1.key.study) }.map { ($0.key, $0.value) }
    }

    private func details(_ key: Key, _ rows: [(SpooledInstance, Spool.Result?)]) -> [String: String] {
        var classes: [String: Int] = [:]
        for row in rows { classes[row.0.sopClassUID, default: 0] += 1 }
        var details = ["study": key.study, "destination": key.destination, "patientID": key.patientID,
                       "instances": String(rows.count), "sopClasses": TransferAudit.sopClasses(classes)]
        if let host = URLComponents(string: key.destination)?.host { details["host"] = host }
        return details
    }

    public static func sopClasses(_ counts: [String: Int]) -> String {
        counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }

    private func write(_ events: [AuditEvent]) {
        guard !events.isEmpty else { return }
        do { try AuditLog(directory: directory).append(events) } catch {
            FileHandle.standardError.write(Data("warning: the audit trail could not be written: \(error)\n".utf8))
        }
    }
}
