import CClamAV
import DICOMCore
import Glibc
import Protector

/// libclamav's return codes (clamav.h `cl_error_t`), each its own case.
public enum ClamAVError: Error, Equatable {
    case nullArgument, invalidArgument, malformedDatabase, cvd, verify, unpack
    case open, create, unlink, stat, read, seek, write, dup, access, tempFile, tempDirectory
    case map, memory, timeout, break_, maxRecursion, maxSize, maxFiles, format, parse
    case bytecode, bytecodeTestFailure, lock, busy, state, verified, generic
    case unknown(Int32)
    /// The part is over a configured scan limit (`Heuristics.Limits.Exceeded.*`): not scanned whole.
    case limitExceeded(String)

    init(_ code: cl_error_t) {
        switch code {
        case CL_ENULLARG: self = .nullArgument
        case CL_EARG: self = .invalidArgument
        case CL_EMALFDB: self = .malformedDatabase
        case CL_ECVD: self = .cvd
        case CL_EVERIFY: self = .verify
        case CL_EUNPACK: self = .unpack
        case CL_EOPEN: self = .open
        case CL_ECREAT: self = .create
        case CL_EUNLINK: self = .unlink
        case CL_ESTAT: self = .stat
        case CL_EREAD: self = .read
        case CL_ESEEK: self = .seek
        case CL_EWRITE: self = .write
        case CL_EDUP: self = .dup
        case CL_EACCES: self = .access
        case CL_ETMPFILE: self = .tempFile
        case CL_ETMPDIR: self = .tempDirectory
        case CL_EMAP: self = .map
        case CL_EMEM: self = .memory
        case CL_ETIMEOUT: self = .timeout
        case CL_BREAK: self = .break_
        case CL_EMAXREC: self = .maxRecursion
        case CL_EMAXSIZE: self = .maxSize
        case CL_EMAXFILES: self = .maxFiles
        case CL_EFORMAT: self = .format
        case CL_EPARSE: self = .parse
        case CL_EBYTECODE: self = .bytecode
        case CL_EBYTECODE_TESTFAIL: self = .bytecodeTestFailure
        case CL_ELOCK: self = .lock
        case CL_EBUSY: self = .busy
        case CL_ESTATE: self = .state
        case CL_VERIFIED: self = .verified
        case CL_ERROR: self = .generic
        default: self = .unknown(Int32(bitPattern: code.rawValue))
        }
    }

}

/// The libclamav engine, loaded and compiled once, then shared by all scans (libclamav allows
/// concurrent scans on a compiled engine: hence `@unchecked Sendable`). Parts are scanned from
/// memory with `cl_fmap_open_memory` + `cl_scanmap_callback`, collecting every match.
public final class ClamAVEngine: @unchecked Sendable {
    private let engine: OpaquePointer
    public let signatureCount: UInt32

    public struct Limits: Sendable {
        public var maxFileSize: UInt64 = 512 << 20
        public var maxScanSize: UInt64 = 1 << 30
        public var maxRecursion: UInt32 = 16
        public var maxScanTimeMilliseconds: UInt32 = 120_000
        /// Where libclamav writes what it extracts (nil: its default, /tmp): the scanner's scratch.
        public var temporaryDirectory: String?
        public init() {}
    }

    /// `cl_init` must run once per process before any engine exists.
    private static let initialised: cl_error_t = cl_init(UInt32(CL_INIT_DEFAULT))

    /// Loads every database in `paths` (files or directories: the project's own set, and
    /// `/var/lib/clamav` in production). Unsigned bytecode is never loaded.
    public init(signatures paths: [String], limits: Limits = Limits()) throws(ClamAVError) {
        guard ClamAVEngine.initialised == CL_SUCCESS else { throw ClamAVError(ClamAVEngine.initialised) }
        guard let engine = cl_engine_new() else { throw .memory }
        self.engine = engine
        var signatures: UInt32 = 0
        for path in paths {
            let status = cl_load(path, engine, &signatures, cclamav_db_stdopt())
            guard status == CL_SUCCESS else { cl_engine_free(engine); throw ClamAVError(status) }
        }
        signatureCount = signatures
        for (field, value) in [(CL_ENGINE_MAX_FILESIZE, Int64(limits.maxFileSize)), (CL_ENGINE_MAX_SCANSIZE, Int64(limits.maxScanSize)),
                               (CL_ENGINE_MAX_RECURSION, Int64(limits.maxRecursion)),
                               (CL_ENGINE_MAX_SCANTIME, Int64(limits.maxScanTimeMilliseconds)),
                               // The scan cache hashes every buffer (MD5) and takes a lock per scan; parts
                               // are scanned once each, so it only costs.
                               (CL_ENGINE_DISABLE_CACHE, 1)] {
            let status = cl_engine_set_num(engine, field, value)
            guard status == CL_SUCCESS else { cl_engine_free(engine); throw ClamAVError(status) }
        }
        if let directory = limits.temporaryDirectory {
            let status = cl_engine_set_str(engine, CL_ENGINE_TMPDIR, directory)
            guard status == CL_SUCCESS else { cl_engine_free(engine); throw ClamAVError(status) }
        }
        cl_engine_set_clcb_virus_found(engine) { _, name, context in
            guard let name, let context else { return }
            context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
        }
        let status = cl_engine_compile(engine)
        guard status == CL_SUCCESS else { cl_engine_free(engine); throw ClamAVError(status) }
    }

    deinit { cl_engine_free(engine) }

    /// Every signature matching `content` (empty when clean), as libclamav names them (signatures
    /// from databases other than the official ones carry `.UNOFFICIAL`). Parts in memory are mapped
    /// directly; ranges of a source are mapped through a read callback, so large pixel data is
    /// scanned without being loaded whole.
    public func scan(_ content: ScanContent) throws -> [String] {
        switch content.storage {
        case let .bytes(bytes):
            return try bytes.withUnsafeBytes { raw throws(ClamAVError) in
                guard let base = raw.baseAddress, raw.count > 0 else { return [] }
                guard let map = cl_fmap_open_memory(base, raw.count) else { throw .map }
                defer { cl_fmap_close(map) }
                return try scan(map, label: content.label)
            }
        case let .range(source, offset, length):
            guard length > 0 else { return [] }
            if let mapped = source as? any MappedBytes {
                let raw = mapped.memory
                guard let base = raw.baseAddress, offset >= 0, offset + length <= Int64(raw.count) else { throw ClamAVError.map }
                guard let map = cl_fmap_open_memory(base + Int(offset), Int(length)) else { throw ClamAVError.map }
                defer { cl_fmap_close(map) }
                return try scan(map, label: content.label)
            }
            if let memory = source as? any InMemoryBytes {
                return try memory.bytes.withUnsafeBytes { raw throws(ClamAVError) in
                    guard let base = raw.baseAddress, offset >= 0, offset + length <= Int64(raw.count) else { throw .map }
                    guard let map = cl_fmap_open_memory(base + Int(offset), Int(length)) else { throw .map }
                    defer { cl_fmap_close(map) }
                    return try scan(map, label: content.label)
                }
            }
            let reader = Unmanaged.passRetained(SourceReader(source: source, offset: offset))
            defer { reader.release() }
            // use_aging 0: the map lives for one scan only.
            guard let map = cl_fmap_open_handle(reader.toOpaque(), 0, Int(length), { handle, buffer, count, offset in
                guard let handle, let buffer else { return -1 }
                return Unmanaged<SourceReader>.fromOpaque(handle).takeUnretainedValue().read(into: buffer, count: count, at: offset)
            }, 0) else { throw ClamAVError.map }
            defer { cl_fmap_close(map) }
            return try scan(map, label: content.label)
        }
    }

    private func scan(_ map: OpaquePointer, label: String) throws(ClamAVError) -> [String] {
        // EXCEEDS_MAX: a part over the size, scan-size or recursion limits is reported instead of
        // passing unscanned as clean; it then counts as no verdict (fail closed), not as malware.
        var options = cl_scan_options(general: UInt32(CL_SCAN_GENERAL_ALLMATCHES), parse: ~UInt32(0),
                                      heuristic: UInt32(CL_SCAN_HEURISTIC_EXCEEDS_MAX), mail: 0, dev: 0)
        var matches: [String] = []
        var virus: UnsafePointer<CChar>?
        var scanned: UInt = 0
        let status = withUnsafeMutablePointer(to: &matches) { context in
            cl_scanmap_callback(map, label, &virus, &scanned, engine, &options, context)
        }
        switch status {
        case CL_CLEAN: return []
        case CL_VIRUS:
            if matches.isEmpty, let virus { matches.append(String(cString: virus)) }
            if let limit = matches.first(where: { $0.hasPrefix("Heuristics.Limits.Exceeded") }) { throw .limitExceeded(limit) }
            // All-match mode reports a signature once per layer it matched in (raw, normalised text…).
            var seen = Set<String>()
            return matches.filter { seen.insert($0).inserted }
        default: throw ClamAVError(status)
        }
    }
}

/// The handle behind `cl_fmap_open_handle`: libclamav calls back with (buffer, count, offset)
/// relative to the mapped range; a failed read returns -1, which libclamav reports as an error.
private final class SourceReader {
    let source: any ByteSource
    let offset: Int64

    init(source: any ByteSource, offset: Int64) { self.source = source; self.offset = offset }

    func read(into buffer: UnsafeMutableRawPointer, count: Int, at position: off_t) -> off_t {
        let available = max(0, min(Int64(count), source.count - offset - Int64(position)))
        guard available > 0 else { return 0 }
        guard let got = try? source.read(at: offset + Int64(position), into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(available)))
        else { return -1 }
        return off_t(got)
    }
}

extension ClamAVEngine: MalwareEngine {
    public var name: String { "clamav" }
}
