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

/// The agent's side of the scanner: starts `kiosk-agent scanner` and keeps it for later requests,
/// hands it each part once naming every engine, and takes the answer within a deadline. A scanner
/// that crashes, hangs past the deadline or breaks the protocol is killed; the scans it had fail
/// (the Protector rejects their files: no verdict is not clean), and the next request starts a new
/// one. The agent never runs an engine itself.
///
/// A part's bytes go into one of a few buffers shared with the scanner for its whole life (mapped
/// once on each side, so a part costs no descriptor, mapping or page fault of its own); a part
/// larger than a buffer goes in a sealed memfd of its own. The buffers also bound the requests in
/// flight: twice the scanner's threads, so each thread has the next part waiting when it finishes.
/// Answers are taken by one reader thread per scanner, which completes each request itself.
public final class ScannerClient: @unchecked Sendable {
    public let job: ScannerJob
    /// The engines, in the scanner's order.
    public let names: [String]
    /// The deadline of one request, in seconds.
    public var deadline: Double {
        get { lock.withLock { deadlineSeconds } }
        set { lock.withLock { deadlineSeconds = newValue } }
    }
    private var deadlineSeconds: Double
    private let lock = NSLock()
    private var current: ScannerInstance?
    private var nextID = 0
    private var nextToken = 0
    /// Media handed over for ranges, by token: the agent's own descriptor and the medium's size.
    private var media: [Int: (fd: Descriptor, size: Int64)] = [:]
    /// How many scanners were started (the first, then every restart).
    public private(set) var starts = 0
    /// How many times a scanner could not be started.
    public private(set) var failedStarts = 0
    /// After a scanner could not be started, requests fail at once until `retryAt` (then the next
    /// one tries again), the wait doubling up to a minute: a scanner that cannot start (its
    /// databases gone, no memory) is not started again for every part.
    private var startFailure: (reason: String, retryAt: Date, wait: Double)?
    private let buffers: [SharedBuffer]
    private let pool = NSCondition()
    private var free: [Int]

    /// The size of each shared buffer: a CT or MR slice's pixel data fits with room to spare.
    public static let bufferCapacity = 4 << 20

    /// The agent's own executable (whatever it was replaced by since, the running image is used).
    /// Tests that call the agent's code inside the test runner point it at the built binary.
    public nonisolated(unsafe) static var executable = "/proc/self/exe"

    /// Starts the scanner and waits until its engines are loaded: a database libclamav cannot load
    /// is an error here, before any medium is read.
    public init(job: ScannerJob) throws {
        var job = job
        job.sharedBuffers = 2 * job.scanningThreads
        self.job = job
        deadlineSeconds = job.requestDeadline
        buffers = try (0..<job.sharedBuffers).map { try SharedBuffer(index: $0, capacity: ScannerClient.bufferCapacity) }
        free = Array(buffers.indices.reversed())
        let first = try ScannerInstance.start(job, buffers: buffers)
        names = first.names
        current = first
        starts = 1
    }

    deinit { current?.shutDown() }

    /// The engines as the Protector sees them.
    public var engines: [any MalwareEngine] { names.enumerated().map { ScannerEngine(name: $1, index: $0, client: self) } }

    /// Hands a medium over (once per scanner): later requests name ranges of it by the token.
    /// (A descriptor that cannot be duplicated is not registered: scans naming its token fail.)
    public func register(medium fd: Int32, size: Int64) -> Int {
        let copy = try? Descriptor.duplicate(fd)
        return lock.withLock {
            nextToken += 1
            if let copy { media[nextToken] = (copy, size) }
            return nextToken
        }
    }

    public func forget(medium token: Int) {
        let (known, instance) = lock.withLock { (media.removeValue(forKey: token), current) }
        guard known != nil else { return }
        instance?.forget(token)
    }

    /// Waits for a free shared buffer: what the caller fills and hands to `submit`.
    public func lease() -> ScannerLease {
        let slot = pool.withLock {
            while free.isEmpty { pool.wait() }
            return free.removeLast()
        }
        return ScannerLease(slot: slot, memory: buffers[slot].bytes, client: self)
    }

    fileprivate func giveBack(_ slot: Int) {
        pool.withLock {
            free.append(slot)
            pool.signal()
        }
    }

    /// Asks the scanner to scan `body` with the engines numbered `engines`; `completion` gets one
    /// outcome per engine, on the scanner's reader thread (or on this one when the request cannot
    /// be sent). `lease` is given back before that. `held` (the memfd or file behind `descriptor`)
    /// is kept open until the answer.
    public func submit(_ lease: ScannerLease, _ body: ScannerBody, descriptor: Int32? = nil, holding held: Any? = nil,
                       label: String, engines: [Int], completion: @escaping @Sendable ([EngineOutcome]) -> Void) {
        func failed(_ reason: String) {
            lease.giveBack()
            completion(engines.map { _ in EngineOutcome(error: reason) })
        }
        if case let .shared(slot, count) = body, slot != lease.slot || count < 0 || count > Int64(lease.memory.count) {
            return failed("a request for \(count) bytes of buffer \(slot) under the lease of buffer \(lease.slot)")
        }
        var medium: (token: Int, fd: Int32, size: Int64)?
        if case let .medium(token, _, _) = body {
            guard let known = lock.withLock({ media[token] }) else { return failed("no medium \(token) is registered") }
            medium = (token, known.fd.rawValue, known.size)
        }
        let started: (instance: ScannerInstance, id: Int, deadline: Double)
        do {
            started = try lock.withLock {
                nextID += 1
                if current == nil || current!.dead {
                    current = nil
                    if let startFailure, Date() < startFailure.retryAt { throw ScannerFailure(reason: startFailure.reason) }
                    do {
                        current = try ScannerInstance.start(job, buffers: buffers)
                        startFailure = nil
                    } catch {
                        let wait = min(60, 2 * (startFailure?.wait ?? 0.5))
                        startFailure = ("\(error)", Date().addingTimeInterval(wait), wait)
                        failedStarts += 1
                        throw error
                    }
                    starts += 1
                }
                return (current!, nextID, deadlineSeconds)
            }
        } catch {
            return failed("the scanner could not be started: \(error)")
        }
        let pending = ScannerInstance.Pending(engines: engines.count, seconds: started.deadline, lease: lease, held: held, completion: completion)
        let request = ScannerRequest(id: started.id, engines: engines, label: label, body: body)
        started.instance.send(request, descriptor: descriptor, medium: medium, pending: pending)
    }

    /// Scans and waits for the answer (a range of a medium, or bytes behind a descriptor).
    public func scan(_ body: ScannerBody, descriptor: Int32?, label: String, engines: [Int]) -> [EngineOutcome] {
        let lease = lease()
        return ScannerClient.waiting { submit(lease, body, descriptor: descriptor, label: label, engines: engines, completion: $0) }
    }

    /// Scans `content` and waits for the answer: copied into a shared buffer where it fits, else
    /// into a sealed memfd of its own (the in-process Protector's engines; the helper's parts go
    /// through `submit` without the copy).
    public func scan(_ content: ScanContent, engines: [Int]) -> [EngineOutcome] {
        func failed(_ error: any Error) -> [EngineOutcome] {
            engines.map { _ in EngineOutcome(error: "the content could not be handed to the scanner: \(error)") }
        }
        let lease = lease()
        if content.count <= Int64(lease.memory.count) {
            var filled = 0
            do {
                try content.forEachChunk(1 << 20) { piece in
                    guard filled + piece.count <= lease.memory.count else { throw ScannerFailure(reason: "more bytes than announced") }
                    piece.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: lease.memory[filled...]).copyMemory(from: $0) }
                    filled += piece.count
                }
            } catch {
                lease.giveBack()
                return failed(error)
            }
            return ScannerClient.waiting {
                submit(lease, .shared(slot: lease.slot, count: Int64(filled)), label: content.label, engines: engines, completion: $0)
            }
        }
        let memory: SealedMemory
        do {
            memory = try SealedMemory(name: "scan")
            try content.forEachChunk(1 << 20) { piece in try piece.withUnsafeBytes { try memory.write($0) } }
            try memory.seal()
        } catch {
            lease.giveBack()
            return failed(error)
        }
        return ScannerClient.waiting {
            submit(lease, .attached(count: memory.count), descriptor: memory.fd.rawValue, holding: memory, label: content.label,
                   engines: engines, completion: $0)
        }
    }

    /// Runs `start` and blocks until it completes.
    private static func waiting(_ start: (@escaping @Sendable ([EngineOutcome]) -> Void) -> Void) -> [EngineOutcome] {
        let answer = Answer()
        start { outcomes in answer.put(outcomes) }
        return answer.take()
    }

    private final class Answer: @unchecked Sendable {
        private let condition = NSCondition()
        private var outcomes: [EngineOutcome]?

        func put(_ value: [EngineOutcome]) {
            condition.withLock {
                outcomes = value
                condition.signal()
            }
        }

        func take() -> [EngineOutcome] {
            condition.withLock {
                while outcomes == nil { condition.wait() }
                return outcomes!
            }
        }
    }
}

/// A shared buffer held for one request: the holder fills `memory`, the scanner reads it, and it
/// goes back to the pool when the request is answered (or when the lease is dropped unused).
public final class ScannerLease: @unchecked Sendable {
    public let slot: Int
    public let memory: UnsafeMutableRawBufferPointer
    private let client: ScannerClient
    private let lock = NSLock()
    private var held = true

    fileprivate init(slot: Int, memory: UnsafeMutableRawBufferPointer, client: ScannerClient) {
        self.slot = slot
        self.memory = memory
        self.client = client
    }

    /// Gives the buffer back (once; later calls do nothing).
    public func giveBack() {
        guard lock.withLock({ defer { held = false }; return held }) else { return }
        client.giveBack(slot)
    }

    deinit { giveBack() }
}

/// One of the scanner's engines as the agent's Protector sees it.
public struct ScannerEngine: JointEngine {
    public let name: String
    public let index: Int
    public let client: ScannerClient

    public var channel: ObjectIdentifier { ObjectIdentifier(client) }

    public func scan(_ content: ScanContent, engines: [Int]) -> [Result<[String], any Error>] {
        client.scan(content, engines: engines).map { outcome in
            if let names = outcome.names { return .success(names) }
            return .failure(ScannerFailure(reason: outcome.error ?? "no answer"))
        }
    }
}

public struct ScannerFailure: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// A memory area the agent fills and the scanner reads, for the life of the client: its size is
/// sealed (neither side can shrink it under the other's mapping), and the scanner gets it read-only.
final class SharedBuffer: @unchecked Sendable {
    let memory: Descriptor
    /// The same memory opened read-only: what the scanner is handed.
    let readOnly: Descriptor
    let bytes: UnsafeMutableRawBufferPointer

    init(index: Int, capacity: Int) throws {
        let fd = kiosk_memfd_create("scan-buffer-\(index)", KIOSK_MFD_CLOEXEC | KIOSK_MFD_ALLOW_SEALING)
        guard fd >= 0 else { throw ScannerFailure(reason: "memfd_create: \(String(cString: strerror(errno)))") }
        memory = Descriptor(adopting: fd)
        guard ftruncate(fd, off_t(capacity)) == 0 else { throw ScannerFailure(reason: "no room for a scan buffer: \(String(cString: strerror(errno)))") }
        guard fcntl(fd, KIOSK_F_ADD_SEALS, KIOSK_F_SEAL_SHRINK | KIOSK_F_SEAL_GROW | KIOSK_F_SEAL_SEAL) == 0 else {
            throw ScannerFailure(reason: "sealing a scan buffer: \(String(cString: strerror(errno)))")
        }
        do { readOnly = try Descriptor.open("/proc/self/fd/\(fd)", O_RDONLY) } catch {
            throw ScannerFailure(reason: "reopening a scan buffer read-only: \(error)")
        }
        guard let base = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ScannerFailure(reason: "mapping a scan buffer: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeMutableRawBufferPointer(start: base, count: capacity)
    }

    deinit { munmap(bytes.baseAddress, bytes.count) }
}

/// An anonymous file in memory for one large part's bytes, sealed before the scanner gets it:
/// neither side can change it while it is scanned.
public final class SealedMemory: @unchecked Sendable {
    public let fd: Descriptor
    public private(set) var count: Int64 = 0

    public init(name: String) throws {
        let raw = kiosk_memfd_create(name, KIOSK_MFD_CLOEXEC | KIOSK_MFD_ALLOW_SEALING)
        guard raw >= 0 else { throw ScannerFailure(reason: "memfd_create: \(String(cString: strerror(errno)))") }
        fd = Descriptor(adopting: raw)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        do { try fd.writeAll(bytes) } catch {
            throw ScannerFailure(reason: "writing a part for the scanner: \(error)")
        }
        count += Int64(bytes.count)
    }

    /// Sizes the file to `count` bytes and lets `body` fill it in place (mapped, unmapped again
    /// before sealing: a writable mapping would keep the write seal off).
    public func fill<R>(count: Int64, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        guard count > 0 else { return try body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        guard ftruncate(fd.rawValue, off_t(count)) == 0 else { throw ScannerFailure(reason: "no room for \(count) bytes: \(String(cString: strerror(errno)))") }
        guard let base = mmap(nil, Int(count), PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ScannerFailure(reason: "mapping \(count) bytes: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, Int(count)) }
        self.count = count
        return try body(UnsafeMutableRawBufferPointer(start: base, count: Int(count)))
    }

    public func seal() throws {
        guard fcntl(fd.rawValue, KIOSK_F_ADD_SEALS, KIOSK_F_SEAL_WRITE | KIOSK_F_SEAL_SHRINK | KIOSK_F_SEAL_GROW | KIOSK_F_SEAL_SEAL) == 0 else {
            throw ScannerFailure(reason: "sealing a part for the scanner: \(String(cString: strerror(errno)))")
        }
    }
}

/// One scanner process: its socket, the requests waiting for an answer, the reader thread.
final class ScannerInstance: @unchecked Sendable {
    let pid: pid_t
    let socket: Descriptor
    let names: [String]
    let scratch: URL
    private let lock = NSLock()
    private var waiting: [Int: Pending] = [:]
    private var sentMedia = Set<Int>()
    private var ended: String?
    private var killed: String?

    /// A request sent and not yet answered.
    final class Pending: @unchecked Sendable {
        let engines: Int
        let seconds: Double
        let deadline: Date
        private let lease: ScannerLease
        private var held: Any?
        private let completion: @Sendable ([EngineOutcome]) -> Void

        init(engines: Int, seconds: Double, lease: ScannerLease, held: Any?, completion: @escaping @Sendable ([EngineOutcome]) -> Void) {
            self.engines = engines
            self.seconds = seconds
            deadline = Date().addingTimeInterval(seconds)
            self.lease = lease
            self.held = held
            self.completion = completion
        }

        /// The buffer and the held descriptor go back before the caller hears the answer.
        func finish(_ outcomes: [EngineOutcome]) {
            lease.giveBack()
            held = nil
            completion(outcomes)
        }

        func fail(_ reason: String) { finish((0..<engines).map { _ in EngineOutcome(error: reason) }) }
    }

    var dead: Bool { lock.withLock { ended != nil || killed != nil } }

    private init(pid: pid_t, socket: Descriptor, names: [String], scratch: URL) {
        self.pid = pid
        self.socket = socket
        self.names = names
        self.scratch = scratch
    }

    /// Scanners not yet reaped, for `reapAtExit`.
    private nonisolated(unsafe) static var live = Set<pid_t>()
    private static let liveLock = NSLock()
    private static let exitHook: Void = { atexit { ScannerInstance.reapAtExit() } }()

    /// The agent exits (a command ends) without its scanner outliving it or going unreaped: its
    /// resources are then counted with the agent's (what `time` and the benchmark report).
    private static func reapAtExit() {
        for pid in liveLock.withLock({ live }) {
            Glibc.kill(pid, SIGKILL)
            reap(pid)
        }
    }

    @discardableResult
    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        _ = retryingOnInterrupt { waitpid(pid, &status, 0) }
        liveLock.withLock { _ = live.remove(pid) }
        return status
    }

    static func start(_ job: ScannerJob, buffers: [SharedBuffer]) throws -> ScannerInstance {
        _ = exitHook
        var job = job
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-agent-scanner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        job.scratch = scratch.path
        signal(SIGPIPE, SIG_IGN)
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            try? FileManager.default.removeItem(at: scratch)
            throw ScannerFailure(reason: "socketpair: \(String(cString: strerror(errno)))")
        }
        let socket = Descriptor(adopting: pair[0])
        // The scanner's end is closed here once it is spawned: its death then reads as the end of the socket.
        let spawned = {
            let theirs = Descriptor(adopting: pair[1])
            return SandboxedChild.spawn(ScannerClient.executable, ScannerMain.argument, input: nil, descriptors: [theirs.rawValue],
                                        faultVariable: "KIOSK_AGENT_SCANNER_FAULT")
        }()
        let pid: pid_t
        switch spawned {
        case let .success(started): pid = started
        case let .failure(error):
            try? FileManager.default.removeItem(at: scratch)
            throw ScannerFailure(reason: "the scanner could not be started: \(error)")
        }
        liveLock.withLock { _ = live.insert(pid) }
        func abandon(_ reason: String) -> ScannerFailure {
            Glibc.kill(pid, SIGKILL)
            reap(pid)
            try? FileManager.default.removeItem(at: scratch)
            return ScannerFailure(reason: reason)
        }
        do {
            try SeqPacket.send(socket.rawValue, .job, Array(try JSONEncoder().encode(job)))
            for (slot, buffer) in buffers.enumerated() {
                var payload: [UInt8] = []
                payload.appendCompact(Int64(slot))
                payload.appendCompact(Int64(buffer.bytes.count))
                try SeqPacket.send(socket.rawValue, .buffer, payload, passing: buffer.readOnly.rawValue)
            }
            // Loading the databases takes a while (seconds for the official set); the answer is bounded.
            guard let packet = try SeqPacket.receive(socket.rawValue) else { throw abandon("the scanner ended before its engines were loaded") }
            if let fd = packet.descriptor { close(fd) }
            var reader = packet.reader()
            switch packet.kind {
            case .ready:
                let count = try reader.int()
                guard (1...HelperScan.maxEngines).contains(count) else { throw abandon("the scanner named \(count) engines") }
                let names = try (0..<count).map { _ in try reader.string() }
                let instance = ScannerInstance(pid: pid, socket: socket, names: names, scratch: scratch)
                let thread = Thread { instance.listen() }
                thread.start()
                return instance
            case .failed:
                throw abandon(try reader.string())
            default:
                throw abandon("the scanner sent \(packet.kind) before it was ready")
            }
        } catch let error as ScannerFailure {
            throw error
        } catch {
            throw abandon("the scanner could not be started: \(error)")
        }
    }

    /// Sends the request (and the medium first, once); the reader thread completes it. A request
    /// that cannot be sent fails here.
    func send(_ request: ScannerRequest, descriptor: Int32?, medium: (token: Int, fd: Int32, size: Int64)?, pending: Pending) {
        let refused: String? = lock.withLock {
            if let reason = ended ?? killed { return reason }
            waiting[request.id] = pending
            return nil
        }
        if let refused { return pending.fail("the scanner \(refused)") }
        do {
            try lock.withLock {
                // Under the lock: the medium goes before any request that names it.
                if let medium, !sentMedia.contains(medium.token) {
                    var payload: [UInt8] = []
                    payload.appendCompact(Int64(medium.token))
                    payload.appendCompact(medium.size)
                    try SeqPacket.send(socket.rawValue, .medium, payload, passing: medium.fd)
                    sentMedia.insert(medium.token)
                }
            }
            var payload: [UInt8] = []
            request.write(to: &payload)
            try SeqPacket.send(socket.rawValue, .scan, payload, passing: descriptor)
        } catch {
            // The reader fails every request waiting, this one too.
            kill("could not be sent a request: \(error)")
        }
    }

    func forget(_ token: Int) {
        lock.withLock {
            guard sentMedia.remove(token) != nil, ended == nil else { return }
            var payload: [UInt8] = []
            payload.appendCompact(Int64(token))
            try? SeqPacket.send(socket.rawValue, .forget, payload)
        }
    }

    /// Kills the scanner; the reader then fails every scan waiting, with `reason`.
    func kill(_ reason: String) {
        lock.withLock { if killed == nil { killed = reason } }
        Glibc.kill(pid, SIGKILL)
    }

    /// Ends the scanner when the agent is done with it.
    func shutDown() { kill("was shut down") }

    /// The reader: completes requests with their answers, and kills a scanner that lets one pass
    /// its deadline (checked at least every second), until the scanner ends; then reaps it and
    /// fails whatever was still waiting.
    private func listen() {
        var reason: String?
        var buffer = SeqPacket.buffer()
        while reason == nil {
            var ready = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
            let polled = retryingOnInterrupt { poll(&ready, 1, 1000) }
            if polled < 0 {
                reason = "could not be listened to (errno \(errno))"
                Glibc.kill(pid, SIGKILL)
                break
            }
            if polled == 0 {
                let now = Date()
                if let overdue = lock.withLock({ waiting.values.first { $0.deadline < now } }) {
                    kill("gave no answer within \(Int(overdue.seconds)) s")
                }
                continue
            }
            do {
                guard let packet = try SeqPacket.receive(socket.rawValue, into: &buffer) else { break }
                if let fd = packet.descriptor { close(fd); throw ScannerProtocolError("a descriptor from the scanner") }
                guard packet.kind == .result else { throw ScannerProtocolError("\(packet.kind) from the scanner") }
                var reader = packet.reader()
                let result = try ScannerResult(reading: &reader)
                guard reader.atEnd else { throw ScannerProtocolError("bytes after an answer") }
                guard let pending = lock.withLock({ waiting.removeValue(forKey: result.id) }) else { continue }
                guard result.outcomes.count == pending.engines else {
                    lock.withLock { waiting[result.id] = pending }
                    throw ScannerProtocolError("answered \(result.outcomes.count) engines of \(pending.engines)")
                }
                pending.finish(result.outcomes)
            } catch {
                reason = "broke its protocol (\(error))"
                Glibc.kill(pid, SIGKILL)
            }
        }
        let status = ScannerInstance.reap(pid)
        let why = lock.withLock { killed } ?? reason ?? ScannerInstance.ending(status)
        let orphans = lock.withLock {
            ended = why
            defer { waiting = [:] }
            return waiting.values
        }
        for pending in orphans { pending.fail("the scanner \(why)") }
        try? FileManager.default.removeItem(at: scratch)
    }

    static func ending(_ status: Int32) -> String {
        let signal = status & 0x7F
        guard signal != 0 else { return "exited with status \((status >> 8) & 0xFF)" }
        switch signal {
        case SIGSYS: return "was stopped by its sandbox (a forbidden system call, SIGSYS)"
        case SIGSEGV: return "crashed (SIGSEGV)"
        case SIGKILL: return "was killed (SIGKILL)"
        case SIGXCPU: return "ran out of its CPU time limit (SIGXCPU)"
        default: return "ended by signal \(signal)"
        }
    }
}
