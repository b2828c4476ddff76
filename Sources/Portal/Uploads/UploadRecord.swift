import Foundation

/// Who an upload belongs to: a patient's session or a kiosk's, as the server's `authorize` closure names it.
public struct UploadOwner: Hashable, Sendable, Codable {
    public let id: String
    public init(_ id: String) { self.id = id }
}

/// One `Upload-Metadata` pair; the value is optional in tus and may be any bytes.
public struct MetadataEntry: Hashable, Sendable, Codable {
    public let key: String
    public let value: Data?
    public init(key: String, value: Data?) {
        self.key = key
        self.value = value
    }
}

/// What the server knows about an upload besides its bytes.
public struct UploadRecord: Hashable, Sendable, Codable {
    public let id: UploadID
    public let batch: String
    public let owner: UploadOwner
    public let length: Int64
    public var offset: Int64
    public let metadata: [MetadataEntry]
    /// When an unfinished upload is given up; a finished one is the pipeline's to remove.
    public var expires: Date

    public init(id: UploadID, batch: String, owner: UploadOwner, length: Int64, offset: Int64 = 0,
                metadata: [MetadataEntry], expires: Date) {
        self.id = id
        self.batch = batch
        self.owner = owner
        self.length = length
        self.offset = offset
        self.metadata = metadata
        self.expires = expires
    }

    public var isComplete: Bool { offset == length }
    public func isExpired(at now: Date) -> Bool { !isComplete && expires <= now }
}
