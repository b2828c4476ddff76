import Foundation

/// One record of the trail as written: what forwarders (ATNA) and reports read back.
public struct AuditRecord: Sendable, Equatable {
    public var seq: Int
    public var time: Date
    public var type: AuditEventType
    public var actor: String
    public var session: String?
    public var details: [String: String]

    public init(seq: Int, time: Date, type: AuditEventType, actor: String, session: String?, details: [String: String]) {
        self.seq = seq; self.time = time; self.type = type; self.actor = actor; self.session = session; self.details = details
    }
}

/// Reads records back in order. It does not verify the chain (`AuditVerifier` does); a line that
/// cannot be read is skipped, so one damaged record never stops the others being forwarded.
public enum AuditReader {
    /// Records with a sequence number above `seq`, at most `limit` of them. Files whose last
    /// record is at or below `seq` are skipped after reading their last line only.
    public static func records(_ directory: URL, after seq: Int, limit: Int = .max) throws -> [AuditRecord] {
        let parse = ISO8601DateFormatter()
        parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var out: [AuditRecord] = []
        for file in AuditLog.files(directory) {
            let data = try Data(contentsOf: file)
            let lines = data.split(separator: UInt8(ascii: "\n"))
            if let last = lines.last, let record = record(last, parse), record.seq <= seq { continue }
            for line in lines {
                guard let record = record(line, parse), record.seq > seq else { continue }
                out.append(record)
                if out.count >= limit { return out }
            }
        }
        return out
    }

    private static func record(_ line: Data.SubSequence, _ parse: ISO8601DateFormatter) -> AuditRecord? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")),
              let object = try? JSONSerialization.jsonObject(with: Data(line[line.index(after: space)...])) as? [String: Any],
              let seq = object["seq"] as? Int, let type = object["type"] as? String,
              let time = (object["time"] as? String).flatMap(parse.date(from:)) else { return nil }
        return AuditRecord(seq: seq, time: time, type: AuditEventType(rawValue: type), actor: object["actor"] as? String ?? "",
                           session: object["session"] as? String, details: object["details"] as? [String: String] ?? [:])
    }
}
