import PortalProtocol
import Crypto
import Foundation
import NIOCore
import PortalStore
import Uploads

/// The rules core applies to what the edge lists, and the names it gives what it takes.
enum EdgeUploadCheck {
    static let maxUploads = 100_000
    static let maxNameBytes = 1024

    /// What makes a listed batch untakeable, in plain words for the patient; nil when it is fine.
    static func problem(in uploads: [EdgeLinkWire.Upload], maxUploadSize: Int64) -> String? {
        if uploads.isEmpty { return "the upload held no files" }
        if uploads.count > maxUploads { return "the upload held more than \(maxUploads) files" }
        var seen = Set<String>()
        for upload in uploads {
            guard isUploadID(upload.id), seen.insert(upload.id).inserted, upload.length >= 0,
                  upload.sha256.utf8.count == 64, Hex.decode(upload.sha256) != nil,
                  !upload.name.isEmpty, upload.name.utf8.count <= maxNameBytes else {
                return "the list of files from the portal was not usable"
            }
            if upload.length > maxUploadSize { return "a file is larger than the hospital accepts" }
        }
        return nil
    }

    /// The edge's upload ids go into a URL path: letters, digits, `-`, `_` and `.` only.
    static func isUploadID(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text != "." && text != ".."
            && text.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    /// Core's id for an edge upload, the same on every try: what a cut-off try staged is found and replaced.
    static func uploadID(edgeBatch: UUID, upload: String) -> UploadID {
        let digest = SHA256.hash(data: Data("edge-upload\u{0}\(edgeBatch.uuidString.lowercased())\u{0}\(upload)".utf8))
        // 32 hex digits of a SHA-256 are always a valid id.
        return UploadID(Hex.encode(digest.prefix(16)))!
    }

    /// The upload's metadata as the registry stores it: the name on the patient's disc and the digest core checked.
    static func metadataJSON(name: String, sha256: String) -> String {
        let entries = [MetadataEntry(key: "relativePath", value: Data(name.utf8)), MetadataEntry(key: "sha256", value: Data(sha256.utf8))]
        return String(decoding: (try? JSONEncoder().encode(entries)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// An edge event type as an audit event type: bounded, and only characters audit readers expect.
    static func eventType(_ type: String) -> String {
        let kept = type.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        }
        return kept.isEmpty ? "unknown" : String(kept)
    }
}

/// SHA-256 over ByteBuffers as they arrive.
struct SHA256Stream {
    private var hasher = SHA256()

    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
    }

    /// Lower-case hex.
    func finalize() -> String { Hex.encode(hasher.finalize()) }
}
