import DICOMCore
import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// A local file read with pread: spooled instances are sent piece by piece, never loaded whole.
final class FileSource: ByteSource {
    let path: String
    private let file: Descriptor
    let count: Int64

    init(path: String) throws {
        self.path = path
        do { file = try Descriptor.open(path, O_RDONLY) } catch {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path, NSUnderlyingErrorKey: error])
        }
        do { count = Int64(try file.status().st_size) } catch {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path, NSUnderlyingErrorKey: error])
        }
    }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let n = try file.read(at: offset, into: UnsafeMutableRawBufferPointer(buffer))
            // The spool's own file, shorter than its row says: never send a truncated instance.
            guard n == count else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
            initialized = count
        }
    }
}
