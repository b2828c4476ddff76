import Crypto
import Foundation

/// The staged file: a header, then length-prefixed AES-GCM segments.
///
///     header   "DPSTAGE1" (8 bytes) | nonce prefix (8 random bytes, one per upload)
///     segment  sealed length (UInt32, big-endian) | ciphertext | tag (16 bytes)
///
/// A segment's nonce is the upload's prefix followed by the segment index (UInt32, big-endian), so a batch key never
/// sees a nonce twice. The authenticated data names the upload and the index, so a segment moved to another upload
/// or another position fails its tag.
enum SegmentFormat {
    static let magic = Array("DPSTAGE1".utf8)
    static let headerSize = 16
    static let lengthSize = 4
    static let tagSize = 16
    static let maxPlaintext = 1 << 20
    static let maxSegments = Int64(UInt32.max)

    static func header(prefix: [UInt8]) -> [UInt8] { magic + prefix }

    static func prefix(fromHeader header: [UInt8]) -> [UInt8]? {
        guard header.count == headerSize, Array(header.prefix(magic.count)) == magic else { return nil }
        return Array(header.suffix(8))
    }

    /// The length prefix and the sealed bytes of one segment.
    static func seal(_ plaintext: some DataProtocol, upload: UploadID, index: Int64, prefix: [UInt8],
                     key: SymmetricKey) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce(prefix, index),
                                   authenticating: associatedData(upload, index))
        let sealedLength = UInt32(box.ciphertext.count + tagSize)
        return bigEndian(sealedLength) + Array(box.ciphertext) + Array(box.tag)
    }

    static func open(_ sealed: [UInt8], upload: UploadID, index: Int64, prefix: [UInt8], key: SymmetricKey) throws -> Data {
        do {
            let box = try AES.GCM.SealedBox(nonce: nonce(prefix, index), ciphertext: sealed.dropLast(tagSize),
                                            tag: sealed.suffix(tagSize))
            return try AES.GCM.open(box, using: key, authenticating: associatedData(upload, index))
        } catch {
            throw StagingError.corrupt(upload, "segment \(index) failed authentication")
        }
    }

    /// The sealed length a prefix announces, or nil when no segment could have it.
    static func sealedLength(_ prefix: [UInt8]) -> Int? {
        let value = Int(prefix.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        return (tagSize + 1...tagSize + maxPlaintext).contains(value) ? value : nil
    }

    private static func nonce(_ prefix: [UInt8], _ index: Int64) throws -> AES.GCM.Nonce {
        try AES.GCM.Nonce(data: prefix + bigEndian(UInt32(index)))
    }

    private static func associatedData(_ upload: UploadID, _ index: Int64) -> [UInt8] {
        Array("dicom-portal staging segment\0".utf8) + Array(upload.rawValue.utf8) + bigEndian(UInt64(index))
    }

    private static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}

/// Carries a batch key into blocking work on another thread. `SymmetricKey` is an immutable value (its storage is
/// never mutated after creation); swift-crypto only has not declared it `Sendable`.
struct SendableKey: @unchecked Sendable {
    let key: SymmetricKey
}
