/// The HTTP surface core offers kiosks over mutual TLS: names both sides use, so a path or header is spelled once.
///
/// A kiosk sends each rebuilt instance as one tus 1.0.0 upload at `uploadsPath` with the metadata keys below, and,
/// once its session has ended, the session's signed manifest with `PUT manifestPath(session)`. Core commits the
/// kiosk batch (one per kiosk and session) when it holds the manifest and a complete upload of every instance the
/// manifest lists, whatever the order they arrived in; both requests are idempotent, so a kiosk that is cut off
/// simply sends again.
public enum KioskAPI {
    public static let uploadsPath = "/uploads/"

    /// `GET`: 200 while core serves; what a kiosk's `echo` of a `portal+https://` destination asks (over mutual TLS,
    /// so a 200 also says the portal accepts the kiosk's certificate).
    public static let healthPath = "/healthz"

    /// `PUT`: the body is the manifest's JSON bytes, `signatureHeader` their signature. 201 when stored, 200 when
    /// the same bytes were already stored, 409 when different bytes were, 400 when unreadable or inconsistent,
    /// 403 when the signature does not verify with the presenting kiosk's certificate key.
    public static func manifestPath(session: String) -> String { "/api/kiosk/sessions/\(session)/manifest" }
    public static let manifestRoute = "/api/kiosk/sessions/:session/manifest"

    /// `GET`: the batch's state as `KioskBatchStatus` JSON (404 before any upload or manifest of the session).
    public static func statusPath(session: String) -> String { "/api/kiosk/sessions/\(session)" }
    public static let statusRoute = "/api/kiosk/sessions/:session"

    /// Base64 of the DER ECDSA P-256/SHA-256 signature over the manifest body, made with the kiosk's TLS key.
    public static let signatureHeader = "Manifest-Signature"

    /// `Upload-Metadata` keys of a kiosk upload (values base64 as tus requires).
    public enum Metadata {
        /// The kiosk session the instance belongs to (`KioskSessionID`'s rules).
        public static let session = "session"
        public static let sopInstanceUID = "sop-instance-uid"
        /// Lower-case hex SHA-256 of the whole upload; core refuses a completed upload whose bytes differ.
        public static let sha256 = "sha256"
        public static let filename = "filename"
    }
}

/// A kiosk session ID as it may appear in a path: 1–64 of `A-Z a-z 0-9 - _ .`, not starting with a dot.
public enum KioskSessionID {
    public static func isValid(_ text: String) -> Bool {
        guard (1...64).contains(text.utf8.count), text.first != "." else { return false }
        return text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
    }
}

/// What `GET statusPath` answers.
public struct KioskBatchStatus: Codable, Sendable, Equatable {
    /// `open` (waiting for the manifest or uploads), `committed`, `processing`, `delivered`, `held`, `failed`.
    public var state: String
    /// Instances the manifest lists, and how many of them have a complete upload.
    public var expected: Int?
    public var received: Int
    public init(state: String, expected: Int?, received: Int) {
        self.state = state; self.expected = expected; self.received = received
    }
}
