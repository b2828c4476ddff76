import Crypto
import Foundation
import Glibc
import HTTPTypes

extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let tusVersion = Self("Tus-Version")!
    static let tusExtension = Self("Tus-Extension")!
    static let tusMaxSize = Self("Tus-Max-Size")!
    static let tusChecksumAlgorithm = Self("Tus-Checksum-Algorithm")!
    static let uploadLength = Self("Upload-Length")!
    static let uploadDeferLength = Self("Upload-Defer-Length")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let uploadExpires = Self("Upload-Expires")!
    static let uploadChecksum = Self("Upload-Checksum")!
}

/// The header values tus defines, parsed strictly: anything malformed is the client's error (400).
enum TusHeaders {
    /// A non-negative decimal with digits only (no sign, no spaces), as Upload-Length and Upload-Offset require.
    static func count(_ value: String?) -> Int64? {
        guard let value, !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        else { return nil }
        return Int64(value)
    }

    /// `key base64value,key2,key3 base64value`: keys are non-empty ASCII without spaces or commas and unique,
    /// values are standard base64.
    static func metadata(_ header: String) -> [MetadataEntry]? {
        var entries: [MetadataEntry] = []
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let key = parts.first, !key.isEmpty,
                  key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
                  !entries.contains(where: { $0.key == key })
            else { return nil }
            var value: Data?
            if parts.count == 2 {
                guard let decoded = Data(base64Encoded: String(parts[1])) else { return nil }
                value = decoded
            }
            entries.append(MetadataEntry(key: String(key), value: value))
        }
        return entries
    }

    static func metadataHeader(_ entries: [MetadataEntry]) -> String {
        entries.map { entry in entry.value.map { "\(entry.key) \($0.base64EncodedString())" } ?? entry.key }
            .joined(separator: ",")
    }

    /// An IMF-fixdate (RFC 9110 §5.6.7), the format Upload-Expires uses.
    static func httpDate(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { String(value).leftPadded(to: 2) }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// The checksum extension's algorithms, computed while a PATCH body streams through.
enum ChunkChecksum {
    case sha1(Insecure.SHA1, expected: Data)
    case sha256(SHA256, expected: Data)

    static let algorithms = "sha1,sha256"

    enum ParseError: Error {
        case unsupportedAlgorithm
        case malformed
    }

    /// `Upload-Checksum: <algorithm> <base64 digest>`.
    init(header: String) throws(ParseError) {
        let parts = header.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let digest = Data(base64Encoded: String(parts[1])) else { throw .malformed }
        switch parts[0] {
        case "sha1":
            guard digest.count == Insecure.SHA1.byteCount else { throw .malformed }
            self = .sha1(Insecure.SHA1(), expected: digest)
        case "sha256":
            guard digest.count == SHA256.byteCount else { throw .malformed }
            self = .sha256(SHA256(), expected: digest)
        default:
            throw .unsupportedAlgorithm
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .sha1(var hash, let expected):
            hash.update(bufferPointer: bytes)
            self = .sha1(hash, expected: expected)
        case .sha256(var hash, let expected):
            hash.update(bufferPointer: bytes)
            self = .sha256(hash, expected: expected)
        }
    }

    var isSHA256: Bool {
        if case .sha256 = self { return true }
        return false
    }

    /// The digest the client announced, when it is a SHA-256 (only meaningful once `matches`).
    var sha256: SHA256Digest? {
        guard case .sha256(let hash, _) = self else { return nil }
        return hash.finalize()
    }

    var matches: Bool {
        switch self {
        case .sha1(let hash, let expected): Data(hash.finalize()) == expected
        case .sha256(let hash, let expected): Data(hash.finalize()) == expected
        }
    }
}
