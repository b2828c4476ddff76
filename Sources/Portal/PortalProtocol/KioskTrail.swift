import Crypto
import Foundation

/// A session's segment of a kiosk's audit trail as its manifest carries it: lines `<sha256-hex> <json>` whose JSON
/// holds `seq` and `prev` (the previous line's hash), ending with a checkpoint record whose Ed25519 signature covers
/// `"<signedSeq>\n<signs>"`, the head it closes. Checked here with nothing but the lines and the kiosk's key, the
/// same rules the kiosk's own `audit verify` applies to the whole trail.
public enum KioskTrail {
    /// More lines than any session writes; a manifest claiming more is refused before anything is checked.
    public static let maxLines = 100_000
    /// One record's line; the trail's details are short strings.
    public static let maxLineBytes = 256 << 10
    static let checkpointType = "audit.checkpoint"

    /// What a segment that chains covers.
    public struct Segment: Sendable, Equatable {
        public var firstSeq: Int64
        public var lastSeq: Int64
        /// The signed checkpoint closing the segment; nil when it has none.
        public var checkpointSeq: Int64?
    }

    /// Checks every line's hash, the sequence and the links within the segment, and each checkpoint's signature
    /// with `publicKey` (raw Ed25519). A segment without a checkpoint passes the chain checks with
    /// `checkpointSeq` nil: whether that is acceptable is the caller's decision.
    public static func verify(_ lines: [String], publicKey: Data?) throws(KioskTrailProblem) -> Segment {
        guard !lines.isEmpty else { throw .empty }
        guard lines.count <= maxLines else { throw .tooLong(lines.count) }
        let key = publicKey.flatMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }
        if publicKey != nil, key == nil { throw .badKey }
        var first: Int64 = 0, seq: Int64 = 0
        var previousHash: String?
        var checkpoint: Int64?
        for (index, line) in lines.enumerated() {
            let number = index + 1
            guard line.utf8.count <= maxLineBytes, let space = line.firstIndex(of: " ") else { throw .notARecord(line: number) }
            let hash = String(line[..<space])
            let json = String(line[line.index(after: space)...])
            guard Hex.encode(SHA256.hash(data: Data(json.utf8))) == hash else { throw .altered(line: number) }
            guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                  let recordSeq = (object["seq"] as? Int).map(Int64.init), let prev = object["prev"] as? String else {
                throw .notARecord(line: number)
            }
            if index == 0 {
                first = recordSeq
            } else {
                guard recordSeq == seq + 1 else { throw .sequenceGap(line: number, found: recordSeq, expected: seq + 1) }
                guard prev == previousHash else { throw .brokenChain(line: number, seq: recordSeq) }
            }
            if object["type"] as? String == checkpointType {
                guard let key else { throw .checkpointWithoutKey(seq: recordSeq) }
                let details = object["details"] as? [String: String] ?? [:]
                guard details["signs"] == prev, details["signedSeq"] == String(recordSeq - 1),
                      let signature = details["signature"].flatMap({ Data(base64Encoded: $0) }),
                      key.isValidSignature(signature, for: Data("\(recordSeq - 1)\n\(prev)".utf8)) else {
                    throw .badSignature(seq: recordSeq)
                }
                checkpoint = recordSeq
            } else {
                checkpoint = nil
            }
            seq = recordSeq
            previousHash = hash
        }
        return Segment(firstSeq: first, lastSeq: seq, checkpointSeq: checkpoint)
    }
}

/// Why a segment does not verify, in words an auditor can act on.
public enum KioskTrailProblem: Error, Equatable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case badKey
    case notARecord(line: Int)
    case altered(line: Int)
    case sequenceGap(line: Int, found: Int64, expected: Int64)
    case brokenChain(line: Int, seq: Int64)
    case checkpointWithoutKey(seq: Int64)
    case badSignature(seq: Int64)

    public var description: String {
        switch self {
        case .empty: "the segment has no records"
        case .tooLong(let count): "the segment has \(count) lines, more than \(KioskTrail.maxLines)"
        case .badKey: "the kiosk's audit key is not an Ed25519 public key"
        case .notARecord(let line): "line \(line) is not an audit record (hash, space, JSON with seq and prev)"
        case .altered(let line): "line \(line) was altered: its hash does not match its content"
        case .sequenceGap(let line, let found, let expected):
            "line \(line) is record \(found) where \(expected) was expected: records were removed, inserted or reordered"
        case .brokenChain(let line, let seq): "line \(line) (record \(seq)) does not link to the record before it"
        case .checkpointWithoutKey(let seq): "checkpoint \(seq) cannot be checked: the kiosk sent no audit key"
        case .badSignature(let seq): "checkpoint \(seq): the signature does not verify with the kiosk's audit key"
        }
    }
}
