import CLinux
import DICOMCore
import Foundation
import HelperProtocol
import POSIX
import Protector
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// The scanner: `kiosk-agent scanner`, started by the agent and kept for the life of its service or
/// command. It loads the engines once (libclamav's databases are read and compiled here, before
/// the sandbox), enters its sandbox (the media helper's, without a medium: scratch for libclamav's
/// temporary files, sockets only for the clamd and ICAP clients), then scans what the agent hands
/// it. It holds nothing of the agent's: no archive, spool, keys or credentials.
///
/// Descriptors: 0 /dev/null, 1 and 2 the agent's stderr, 3 the socket to the agent.
public enum ScannerMain {
    public static let argument = "scanner"
    static let socket: Int32 = 3

    public static func main() -> Never {
        signal(SIGPIPE, SIG_IGN)
        let job: ScannerJob
        do {
            guard let packet = try SeqPacket.receive(socket), packet.kind == .job else { fail("no job from the agent") }
            if let fd = packet.descriptor { close(fd) }
            job = try JSONDecoder().decode(ScannerJob.self, from: Data(packet.payload))
        } catch {
            fail("\(error)")
        }
        // The agent's shared buffers, mapped read-only for good: parts arrive in them.
        var buffers: [UnsafeRawBufferPointer] = []
        do {
            for slot in 0..<max(0, job.sharedBuffers) {
                guard let packet = try SeqPacket.receive(socket), packet.kind == .buffer, let fd = packet.descriptor else {
                    fail("no shared buffer \(slot) from the agent")
                }
                defer { close(fd) }
                var reader = packet.reader()
                let number = try reader.int(), capacity = try reader.int()
                var status = stat()
                guard number == slot, capacity > 0, fstat(fd, &status) == 0, Int(status.st_size) >= capacity else {
                    fail("shared buffer \(number) of \(capacity) bytes does not fit its memory")
                }
                guard let base = mmap(nil, capacity, PROT_READ, MAP_SHARED, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
                    fail("shared buffer \(slot) could not be mapped (errno \(errno))")
                }
                buffers.append(UnsafeRawBufferPointer(start: base, count: capacity))
            }
        } catch {
            fail("\(error)")
        }
        let engines: [any MalwareEngine]
        do { engines = try job.engines() } catch {
            refuse("\(error)", status: 66)
        }
        do {
            var policy = SandboxPolicy(source: nil, scratch: job.scratch, limits: job.resources)
            policy.connects = job.clamdSocket != nil || job.icap != nil
            if let icap = job.icap {
                policy.connectPorts = [icap.port]
                // The gateway's name is resolved for each scan.
                policy.systemReadable += ["/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf"]
            }
            _ = try Sandbox.enter(policy)
        } catch {
            refuse("the scanner could not enter its sandbox (\(error))", status: 70)
        }
        var ready: [UInt8] = []
        ready.appendCompact(Int64(engines.count))
        for engine in engines { ready.appendCompact(engine.name) }
        do { try SeqPacket.send(socket, .ready, ready) } catch { fail("\(error)") }
        ScannerServer(engines: engines, buffers: buffers, threads: job.scanningThreads).serve()
    }

    static func refuse(_ reason: String, status: Int32) -> Never {
        var payload: [UInt8] = []
        payload.appendCompact(reason)
        try? SeqPacket.send(socket, .failed, payload)
        diagnose(reason)
        exit(status)
    }

    public static func diagnose(_ message: String) {
        FileHandle.standardError.write(Data("kiosk-agent scanner: \(message)\n".utf8))
    }

    static func fail(_ message: String) -> Never {
        diagnose(message)
        exit(64)
    }
}

/// The scanner's loop. Every thread reads the socket itself (a packet goes whole to one reader)
/// and scans what it received: no hand-off between threads per request.
final class ScannerServer: @unchecked Sendable {
    let engines: [any MalwareEngine]
    /// The agent's shared buffers, by slot.
    private let buffers: [UnsafeRawBufferPointer]
    private let threads: Int
    private let condition = NSCondition()
    /// The media handed over, by token: descriptor and size.
    private var media: [Int: (fd: Int32, size: Int64)] = [:]
    /// Parts up to this size are mapped whole (libclamav scans them in place); larger ones are read
    /// as libclamav asks.
    static let mappedLimit: Int64 = 64 << 20

    init(engines: [any MalwareEngine], buffers: [UnsafeRawBufferPointer], threads: Int) {
        self.engines = engines
        self.buffers = buffers
        self.threads = max(2, threads)
    }

    /// Threads of the scanner's own, not Dispatch: libdispatch's pool on Linux watches its workers
    /// through /proc/<tid>/stat, which the sandbox does not open, and treats the refusal as fatal.
    func serve() -> Never {
        for _ in 1..<threads {
            let thread = Thread { [self] in serveOne() }
            // libclamav recurses into nested content.
            thread.stackSize = 8 << 20
            thread.start()
        }
        serveOne()
    }

    private func serveOne() -> Never {
        let socket = ScannerMain.socket
        var buffer = SeqPacket.buffer()
        while true {
            do {
                guard let packet = try SeqPacket.receive(socket, into: &buffer) else { exit(0) }  // the agent is done with us
                var reader = packet.reader()
                switch packet.kind {
                case .medium:
                    guard let fd = packet.descriptor else { throw ScannerProtocolError("a medium without its descriptor") }
                    let token = try reader.int(), size = try reader.integer()
                    condition.withLock {
                        media[token] = (fd, size)
                        condition.broadcast()
                    }
                case .forget:
                    let token = try reader.int()
                    if let known = condition.withLock({ media.removeValue(forKey: token) }) { close(known.fd) }
                case .scan:
                    let request = try ScannerRequest(reading: &reader)
                    let attached = packet.descriptor
                    if case .attached = request.body, attached == nil { throw ScannerProtocolError("a scan without its bytes") }
                    if case .attached = request.body {} else if let attached {
                        close(attached)
                        throw ScannerProtocolError("a descriptor with a scan that names its bytes")
                    }
                    let result = scan(request, attached: attached)
                    if let attached { close(attached) }
                    var bytes: [UInt8] = []
                    result.write(to: &bytes)
                    try SeqPacket.send(socket, .result, bytes)
                default:
                    throw ScannerProtocolError("\(packet.kind) from the agent")
                }
            } catch {
                ScannerMain.diagnose("\(error)")
                exit(65)
            }
        }
    }

    /// The medium behind `token`. The agent sends it before any request naming it, but another
    /// thread may have received it and not yet recorded it: wait a moment for it.
    private func medium(_ token: Int) -> (fd: Int32, size: Int64)? {
        let limit = Date().addingTimeInterval(5)
        return condition.withLock {
            while media[token] == nil { if !condition.wait(until: limit) { break } }
            return media[token]
        }
    }

    func scan(_ request: ScannerRequest, attached: Int32?) -> ScannerResult {
        func failed(_ reason: String) -> ScannerResult {
            ScannerResult(id: request.id, outcomes: request.engines.map { _ in EngineOutcome(error: reason) })
        }
        var mapping: UnsafeMutableRawBufferPointer?
        defer { if let mapping { munmap(mapping.baseAddress, mapping.count) } }
        let content: ScanContent
        switch request.body {
        case let .shared(slot, count):
            guard buffers.indices.contains(slot), count >= 0, count <= Int64(buffers[slot].count) else {
                return failed("\(count) bytes of shared buffer \(slot)")
            }
            content = ScanContent(MappedSource(memory: UnsafeRawBufferPointer(rebasing: buffers[slot][0..<Int(count)])), label: request.label)
        case let .attached(count):
            guard let attached else { return failed("no bytes") }
            var status = stat()
            guard count >= 0, fstat(attached, &status) == 0, Int64(status.st_size) >= count else {
                return failed("the bytes handed over are shorter than announced")
            }
            if count == 0 {
                content = ScanContent([], label: request.label)
            } else if count <= ScannerServer.mappedLimit {
                guard let base = mmap(nil, Int(count), PROT_READ, MAP_SHARED, attached, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
                    return failed("the bytes could not be mapped (errno \(errno))")
                }
                let memory = UnsafeMutableRawBufferPointer(start: base, count: Int(count))
                mapping = memory
                content = ScanContent(MappedSource(memory: UnsafeRawBufferPointer(memory)), label: request.label)
            } else {
                content = ScanContent(DescriptorSource(fd: attached, count: count), label: request.label)
            }
        case let .medium(token, offset, count):
            guard let medium = medium(token) else { return failed("no medium \(token) was handed over") }
            guard count >= 0, offset >= 0, offset <= medium.size - count else {
                return failed("a range of \(count) bytes at \(offset) is outside the medium")
            }
            let source = DescriptorSource(fd: medium.fd, count: medium.size)
            // Read whole in one go where it fits (libclamav then maps memory; through its read
            // callback it would ask page by page), else read as libclamav asks.
            if count <= ScannerServer.mappedLimit {
                do { content = ScanContent(try source.read(at: offset, count: Int(count)), label: request.label) } catch {
                    return failed("the medium could not be read for scanning: \(error)")
                }
            } else {
                content = ScanContent(source, offset: offset, length: count, label: request.label)
            }
        }
        if let names = ScannerFaults.trigger(content) {
            return ScannerResult(id: request.id, outcomes: request.engines.map { _ in EngineOutcome(names: names) })
        }
        return ScannerResult(id: request.id, outcomes: request.engines.map { number in
            guard engines.indices.contains(number) else { return EngineOutcome(error: "no engine \(number)") }
            var outcome = EngineOutcome(Result { try engines[number].scan(content) })
            // An answer fits one message: a file with this many matches is rejected on the first ones.
            if let names = outcome.names, names.count > ScannerServer.maxNames { outcome.names = Array(names.prefix(ScannerServer.maxNames)) }
            return outcome
        })
    }

    static let maxNames = 64
}

/// A part handed over as a sealed memfd, mapped read-only.
struct MappedSource: MappedBytes, @unchecked Sendable {
    let memory: UnsafeRawBufferPointer

    var count: Int64 { Int64(memory.count) }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset + Int64(count) <= self.count else { throw ScannerProtocolError("a read outside the part") }
        return Array(memory[Int(offset)..<(Int(offset) + count)])
    }
}

/// Bytes read through a descriptor with pread(2): the medium, a large part.
struct DescriptorSource: ByteSource {
    let fd: Int32
    let count: Int64

    func read(at offset: Int64, count wanted: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: wanted)
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < wanted {
                let n = retryingOnInterrupt { pread(fd, raw.baseAddress! + done, wanted - done, off_t(offset) + off_t(done)) }
                guard n > 0 else { throw HelperProtocolError.io("reading \(wanted) bytes at \(offset)", n < 0 ? errno : EIO) }
                done += n
            }
        }
        return bytes
    }
}
