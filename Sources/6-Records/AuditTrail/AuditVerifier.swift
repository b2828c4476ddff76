import Crypto
import Foundation

/// Checks the whole trail: every line's hash, the sequence, the chain, every checkpoint's
/// signature, and that the trail reaches the signed `head` (nothing cut off the end).
public enum AuditVerifier {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let reason: String
        public var description: String { "\(file):\(line): \(reason)" }
    }

    public struct Summary: Equatable {
        public var records = 0
        public var checkpoints = 0
        /// Records after the last checkpoint (not yet signed; written since the last session ended).
        public var unsigned = 0
    }

    /// Throws the first problem found. `publicKey` defaults to `audit.pub` beside the trail.
    public static func verify(_ directory: URL, publicKey: Curve25519.Signing.PublicKey? = nil) throws -> Summary {
        let key = try publicKey ?? {
            guard let text = try? String(contentsOf: directory.appendingPathComponent("audit.pub"), encoding: .utf8),
                  let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw Problem(file: "audit.pub", line: 0, reason: "the public key is missing or unreadable")
            }
            return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        }()
        var summary = Summary()
        var seq = 0
        var prev = ""
        for file in AuditLog.files(directory) {
            let name = file.lastPathComponent
            let data = try Data(contentsOf: file)
            guard data.isEmpty || data.last == UInt8(ascii: "\n") else {
                throw Problem(file: name, line: data.split(separator: UInt8(ascii: "\n")).count, reason: "the last record is cut off")
            }
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().enumerated() {
                let number = index + 1
                guard let text = String(data: Data(line), encoding: .utf8), let space = text.firstIndex(of: " ") else {
                    throw Problem(file: name, line: number, reason: "not a record (hash, space, JSON)")
                }
                let hash = String(text[..<space])
                let json = String(text[text.index(after: space)...])
                guard AuditLog.hex(SHA256.hash(data: Data(json.utf8))) == hash else {
                    throw Problem(file: name, line: number, reason: "the record was altered (its hash does not match)")
                }
                guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                      let recordSeq = object["seq"] as? Int, let recordPrev = object["prev"] as? String else {
                    throw Problem(file: name, line: number, reason: "the record has no sequence number or previous hash")
                }
                guard recordSeq == seq + 1 else {
                    throw Problem(file: name, line: number, reason: "sequence \(recordSeq) where \(seq + 1) was expected (records removed, inserted or reordered)")
                }
                guard recordPrev == prev else {
                    throw Problem(file: name, line: number, reason: "the chain is broken: the previous record's hash differs (record \(recordSeq))")
                }
                if object["type"] as? String == AuditEventType.checkpoint.rawValue {
                    let details = object["details"] as? [String: String] ?? [:]
                    guard details["signs"] == prev, details["signedSeq"] == String(seq),
                          let signature = details["signature"].flatMap({ Data(base64Encoded: $0) }),
                          key.isValidSignature(signature, for: Data("\(seq)\n\(prev)".utf8)) else {
                        throw Problem(file: name, line: number, reason: "checkpoint \(recordSeq): the signature does not verify")
                    }
                    summary.checkpoints += 1
                    summary.unsigned = 0
                } else {
                    summary.unsigned += 1
                }
                seq = recordSeq
                prev = hash
                summary.records += 1
            }
        }
        // The signed head: the trail must reach at least the last checkpoint written.
        if let head = try? String(contentsOf: directory.appendingPathComponent("head"), encoding: .utf8) {
            let parts = head.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
            guard parts.count == 3, let headSeq = Int(parts[0]), let signature = Data(base64Encoded: String(parts[2])),
                  key.isValidSignature(signature, for: Data("head \(headSeq)\n\(parts[1])".utf8)) else {
                throw Problem(file: "head", line: 1, reason: "the signed head does not verify")
            }
            guard headSeq <= seq else {
                throw Problem(file: "head", line: 1, reason: "records \(seq + 1)...\(headSeq) are missing from the end of the trail")
            }
        } else if summary.checkpoints > 0 {
            throw Problem(file: "head", line: 0, reason: "the signed head is missing")
        }
        return summary
    }

    /// Records from `since` (and until `until`), as the JSON objects they are, for auditors.
    public static func export(_ directory: URL, since: Date?, until: Date?) throws -> [String] {
        let parse = ISO8601DateFormatter()
        parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var out: [String] = []
        for file in AuditLog.files(directory) {
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                guard let space = line.firstIndex(of: " ") else { continue }
                let json = String(line[line.index(after: space)...])
                guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                      let time = (object["time"] as? String).flatMap(parse.date(from:)) else { continue }
                if let since, time < since { continue }
                if let until, time > until { continue }
                out.append(json)
            }
        }
        return out
    }
}

/// Key helpers for callers that do not import Crypto.
public enum AuditKey {
    public static func publicKey(_ raw: Data) throws -> Curve25519.Signing.PublicKey {
        try Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }
}
