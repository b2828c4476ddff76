import Foundation
import PortalStore

/// The bodies of the edge link (core ↔ edge, /link/v1): JSON, times ISO 8601 UTC, binary as lower-case hex, a patient
/// named by `ref` (core's patients.id in decimal).
enum EdgeLinkWire {
    /// `PUT /link/v1/patients/{ref}`; `invitation` and `liveInvitation` are written as null when there is none.
    struct Patient: Encodable {
        var name: String
        var birthDate: String
        var email: String
        var invitation: Invitation?
        /// Hex SHA-256 of the token of the one invitation that may still work (null: none); the edge voids the others.
        var liveInvitation: String?

        struct Invitation: Encodable {
            var tokenSHA256: String
            var expiresAt: String
        }

        enum CodingKeys: String, CodingKey { case name, birthDate, email, invitation, liveInvitation }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(birthDate, forKey: .birthDate)
            try container.encode(email, forKey: .email)
            try container.encode(invitation, forKey: .invitation)
            try container.encode(liveInvitation, forKey: .liveInvitation)
        }
    }

    /// `GET /link/v1/batches?state=submitted`.
    struct BatchList: Decodable {
        var batches: [Batch]
    }

    struct Batch: Decodable {
        var id: UUID
        var patient: String
        var submittedAt: String?
        var label: String?
        var uploads: [Upload]
    }

    struct Upload: Decodable {
        var id: String
        var name: String
        var length: Int64
        var sha256: String
    }

    /// `GET /link/v1/events?after=SEQ&limit=N`.
    struct EventList: Decodable {
        var events: [Event]
        var last: Int64?
    }

    struct Event: Decodable {
        var seq: Int64
        var at: String
        var type: String
        var patient: String?
        var address: String?
        var detail: JSONValue?
    }

    /// An error body: `{"error":"code","message":"…"}`.
    struct Failure: Decodable {
        var error: String
        var message: String?
    }
}

/// What the patient is shown about a batch once the hospital has checked it (the browser's "result object"), plus the
/// state the edge files it under. Plain words only, as on the kiosk's receipt; no finding codes, paths or identifiers.
public struct EdgeResult: Codable, Sendable, Equatable {
    public var receiptCode: String
    public var reachedHospital: Bool
    public var decidedAt: String
    public var summary: String
    public var studies: [Study]
    public var leftOut: [LeftOut]
    /// delivered, held or failed.
    public var state: String

    public struct Study: Codable, Sendable, Equatable {
        public var description: String
        public var date: String?
        public var modality: String?
        public var accepted: Int
        public var cleaned: Int
        public var refused: Int
        public var heldBecause: String?
        public var notes: [String]

        enum CodingKeys: String, CodingKey { case description, date, modality, accepted, cleaned, refused, heldBecause, notes }

        // heldBecause, date and modality are always present, null when unknown, as the browser reads them.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(description, forKey: .description)
            try container.encode(date, forKey: .date)
            try container.encode(modality, forKey: .modality)
            try container.encode(accepted, forKey: .accepted)
            try container.encode(cleaned, forKey: .cleaned)
            try container.encode(refused, forKey: .refused)
            try container.encode(heldBecause, forKey: .heldBecause)
            try container.encode(notes, forKey: .notes)
        }
    }

    public struct LeftOut: Codable, Sendable, Equatable {
        public var name: String
        public var why: String
    }
}
