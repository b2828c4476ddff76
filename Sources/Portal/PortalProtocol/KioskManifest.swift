import Crypto
import Foundation
import SessionReport

/// What a kiosk says about one session it uploads: who did what at the desk, the patient staff expected and the
/// identity decision, its own verdicts (the session report), and the instances it sends. Core records all of it and
/// relies on none of it: every instance is protected again, and the desk's identity decision is re-checked.
public struct KioskManifest: Codable, Sendable, Equatable {
    public static let schemaName = "dicom-portal.kiosk-manifest/1"

    public var schema = KioskManifest.schemaName
    /// The kiosk's name as its certificate carries it; core refuses a manifest naming another kiosk.
    public var kiosk: String
    public var session: String
    /// The signed-in operator, or `cli` for a command-line ingest.
    public var operatorName: String
    /// The session report (§3.2): expected patient, identity override, per-file verdicts and findings.
    public var report: ReportDocument
    /// Every instance the kiosk uploads for this session: core commits the batch when it holds each one.
    public var instances: [Instance]
    /// The session's audit trail records, each one JSON line as the kiosk's trail holds it.
    public var audit: [String]
    /// The session's analytics summary (no patient data) as the kiosk wrote it, when it keeps analytics.
    public var analytics: JSONDocument?
    /// The session's lines of the kiosk's audit trail exactly as written (`<sha256-hex> <json>`), ending with the
    /// checkpoint that signs them; core checks them against `auditKey`. Absent from kiosks before the portal
    /// verified trails (and when the trail could not be written).
    public var trail: [String]?
    /// The kiosk's `audit.pub`: base64 of its raw Ed25519 public key. Core pins the first one it sees.
    public var auditKey: String?

    public struct Instance: Codable, Sendable, Equatable, Hashable {
        public var sopInstanceUID: String
        /// Lower-case hex SHA-256 of the bytes uploaded.
        public var sha256: String
        public var size: Int64
        public init(sopInstanceUID: String, sha256: String, size: Int64) {
            self.sopInstanceUID = sopInstanceUID; self.sha256 = sha256; self.size = size
        }
    }

    public init(kiosk: String, session: String, operatorName: String, report: ReportDocument, instances: [Instance],
                audit: [String] = [], analytics: JSONDocument? = nil, trail: [String]? = nil, auditKey: String? = nil) {
        self.kiosk = kiosk; self.session = session; self.operatorName = operatorName; self.report = report
        self.instances = instances; self.audit = audit; self.analytics = analytics; self.trail = trail; self.auditKey = auditKey
    }

    enum CodingKeys: String, CodingKey {
        case schema, kiosk, session, operatorName = "operator", report, instances, audit, analytics, trail, auditKey
    }

    /// The identity decision made at the desk, as the report states it.
    public var identityDecision: IdentityDecision {
        if let reason = report.value.identityOverride { return .override(reason: reason) }
        return report.value.expectedPatient == nil ? .none : .confirmed
    }

    public enum IdentityDecision: Sendable, Equatable {
        /// No patient was named at the desk.
        case none
        /// The instances were checked against the patient staff named.
        case confirmed
        /// Staff delivered despite a mismatch, giving this reason.
        case override(reason: String)
    }

    /// Checks what a reader must not take on trust: the schema, the session's spelling, the instance list.
    public func validate() throws(ManifestError) {
        guard schema == KioskManifest.schemaName else { throw .unreadable("schema \(schema) is not \(KioskManifest.schemaName)") }
        guard KioskSessionID.isValid(session) else { throw .unreadable("session ID is not 1-64 of A-Z a-z 0-9 - _ .") }
        guard instances.count <= 1_000_000 else { throw .unreadable("more than 1,000,000 instances") }
        if let trail {
            guard trail.count <= KioskTrail.maxLines else { throw .unreadable("the audit trail segment has more than \(KioskTrail.maxLines) lines") }
        }
        if let auditKey, auditKey.utf8.count > 128 { throw .unreadable("auditKey is not an Ed25519 public key in base64") }
        var seen = Set<String>()
        for instance in instances {
            guard !instance.sopInstanceUID.isEmpty, instance.sopInstanceUID.utf8.count <= 64 else {
                throw .unreadable("an instance has no valid SOP Instance UID")
            }
            guard instance.sha256.utf8.count == 64, instance.sha256.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw .unreadable("instance \(instance.sopInstanceUID): sha256 is not 64 lower-case hex digits")
            }
            guard instance.size >= 0 else { throw .unreadable("instance \(instance.sopInstanceUID): negative size") }
            guard seen.insert(instance.sopInstanceUID).inserted else {
                throw .unreadable("instance \(instance.sopInstanceUID) is listed twice")
            }
        }
    }

    /// Encoded the way it is signed and sent (sorted keys, so the same manifest is the same bytes).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Decodes and validates at most `limit` bytes.
    public static func decode(_ data: Data, limit: Int = 64 << 20) throws(ManifestError) -> KioskManifest {
        guard data.count <= limit else { throw .tooLarge(limit) }
        let manifest: KioskManifest
        do { manifest = try JSONDecoder().decode(KioskManifest.self, from: data) } catch {
            throw .unreadable("not a kiosk manifest: \(error)")
        }
        try manifest.validate()
        return manifest
    }
}

/// A `Report` carried as a JSON value: decoded, but kept as it came so a later report field survives the round trip.
public struct ReportDocument: Codable, Sendable, Equatable {
    public let json: Data
    public let value: Report

    public init(_ report: Report) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        json = try encoder.encode(report)
        value = report
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let any = try container.decode(JSONAny.self)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        json = try encoder.encode(any)
        value = try JSONDecoder().decode(Report.self, from: json)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(try JSONDecoder().decode(JSONAny.self, from: json))
    }

    public static func == (lhs: ReportDocument, rhs: ReportDocument) -> Bool { lhs.json == rhs.json }
}

/// A JSON document carried through unchanged (keys sorted), whatever its schema.
public struct JSONDocument: Codable, Sendable, Equatable {
    public let json: Data

    public init(encoding value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        json = try encoder.encode(try JSONDecoder().decode(JSONAny.self, from: try encoder.encode(value)))
    }

    public init(from decoder: any Decoder) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        json = try encoder.encode(try decoder.singleValueContainer().decode(JSONAny.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(try JSONDecoder().decode(JSONAny.self, from: json))
    }
}

/// Any JSON value, for carrying documents through unchanged.
enum JSONAny: Codable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONAny]), object([String: JSONAny])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONAny].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONAny].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            // Integers (counts, sizes) stay integers.
            if value.rounded() == value, abs(value) < 9e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

public enum ManifestError: Error, Equatable, CustomStringConvertible {
    case tooLarge(Int)
    case unreadable(String)
    case badSignature

    public var description: String {
        switch self {
        case .tooLarge(let limit): "the manifest is larger than \(limit) bytes"
        case .unreadable(let why): "the manifest is unreadable: \(why)"
        case .badSignature: "the manifest's signature does not verify with the kiosk's certificate key"
        }
    }
}

/// Signing with the kiosk's P-256 key (the key of its TLS client certificate), verifying with the certificate's
/// public key, so the manifest stays attributable after the connection that brought it is gone.
public enum ManifestSignature {
    public static func sign(_ body: Data, with key: P256.Signing.PrivateKey) throws -> String {
        try key.signature(for: body).derRepresentation.base64EncodedString()
    }

    public static func verify(_ body: Data, signature: String, publicKey: P256.Signing.PublicKey) throws(ManifestError) {
        guard signature.utf8.count <= 256, let der = Data(base64Encoded: signature),
              let parsed = try? P256.Signing.ECDSASignature(derRepresentation: der),
              publicKey.isValidSignature(parsed, for: body) else { throw .badSignature }
    }
}
