import DICOMCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local file read with pread: spooled instances are sent piece by piece, never loaded whole.
final class FileSource: ByteSource {
    let path: String
    private let fd: Int32
    let count: Int64

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { close(fd); throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path]) }
        count = Int64(info.st_size)
    }

    deinit { close(fd) }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
                done += n
            }
            initialized = count
        }
    }
}
