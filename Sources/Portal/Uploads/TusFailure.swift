import HTTPTypes

/// A request the server refuses, with the status tus prescribes and a short reason for the response body.
/// Reasons never repeat metadata (file names may carry patient data).
struct TusFailure: Error {
    let status: HTTPResponse.Status
    let reason: String
    var headers: HTTPFields = [:]

    static let notFound = TusFailure(status: .notFound, reason: "no such upload")
    static let gone = TusFailure(status: .gone, reason: "the upload has expired")
    static let busy = TusFailure(status: .conflict, reason: "another request is writing this upload")
    static let checksumMismatch = TusFailure(status: .init(code: 460, reasonPhrase: "Checksum Mismatch"),
                                             reason: "the chunk does not match Upload-Checksum; it was discarded")
    static let storageFull = TusFailure(status: .init(code: 507, reasonPhrase: "Insufficient Storage"),
                                        reason: "the staging storage is full; the chunk was not stored")

    static func badRequest(_ reason: String) -> TusFailure { TusFailure(status: .badRequest, reason: reason) }
}

/// What the server's closures (`batchFor`) throw to refuse a request with a status of their choosing, e.g. 400 for
/// metadata the application requires. The reason goes to the client: never put metadata values in it.
public struct UploadRefusal: Error, Equatable {
    public let status: HTTPResponse.Status
    public let reason: String

    public init(status: HTTPResponse.Status, reason: String) {
        self.status = status
        self.reason = reason
    }
}
