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
    /// The most plaintext a segment may hold: what readers accept.
    static let maxPlaintext = 1 << 20
    /// The plaintext of every segment an append writes but its last. Half the most, as an append holds two at once
    /// (one filling while the one before is written); readers take either size.
    static let writtenPlaintext = 512 << 10
    static let maxSegments = Int64(UInt32.max)

    static func header(prefix: [UInt8]) -> [UInt8] { magic + prefix }

    /// A random nonce prefix for a new staged file.
    static func newPrefix() -> [UInt8] { SymmetricKey(size: SymmetricKeySize(bitCount: 64)).withUnsafeBytes { Array($0) } }

    static func prefix(fromHeader header: [UInt8]) -> [UInt8]? {
        guard header.count == headerSize, Array(header.prefix(magic.count)) == magic else { return nil }
        return Array(header.suffix(8))
    }

    /// Replaces `record` with one segment: its length prefix and sealed bytes. The caller reuses the record's
    /// storage from one segment to the next.
    static func seal(_ plaintext: UnsafeRawBufferPointer, upload: UploadID, index: Int64, prefix: [UInt8],
                     key: SymmetricKey, into record: inout [UInt8]) throws {
        let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce(prefix, index),
                                   authenticating: associatedData(upload, index))
        record.removeAll(keepingCapacity: true)
        record.reserveCapacity(lengthSize + plaintext.count + tagSize)
        withUnsafeBytes(of: UInt32(plaintext.count + tagSize).bigEndian) { record.append(contentsOf: $0) }
        box.ciphertext.withUnsafeBytes { record.append(contentsOf: $0) }
        box.tag.withUnsafeBytes { record.append(contentsOf: $0) }
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
