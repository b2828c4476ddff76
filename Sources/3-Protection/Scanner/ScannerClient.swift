import CLinux
import DICOMCore
import Foundation
import HelperProtocol
import Protector
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// The agent's side of the scanner: starts `kiosk-agent scanner` and keeps it for later requests,
/// hands it each part once (a sealed memfd, by SCM_RIGHTS) naming every engine, and waits for the
/// answer within a deadline. A scanner that crashes, hangs past the deadline or breaks the
/// protocol is killed; the scans it had fail (the Protector rejects their files: no verdict is not
/// clean), and the next request starts a new one. The agent never runs an engine itself.
public final class ScannerClient: @unchecked Sendable {
    public let job: ScannerJob
    /// The engines, in the scanner's order.
    public let names: [String]
    /// The deadline of one request, in seconds.
    public var deadline: Double
    private let lock = NSLock()
    private var current: ScannerInstance?
    private var nextID = 0
    private var nextToken = 0
    /// Media handed over for ranges: the agent's own descriptor, and its size, by token.
    private var media: [Int: (fd: Int32, size: Int64)] = [:]
    /// How many scanners were started (the first, then every restart).
    public private(set) var starts = 0

    /// The agent's own executable (whatever it was replaced by since, the running image is used).
    /// Tests that call the agent's code inside the test runner point it at the built binary.
    public nonisolated(unsafe) static var executable = "/proc/self/exe"

    /// Starts the scanner and waits until its engines are loaded: a database libclamav cannot load
    /// is an error here, before any medium is read.
    public init(job: ScannerJob) throws {
        self.job = job
        deadline = job.requestDeadline
        let first = try ScannerInstance.start(job)
        names = first.names
        current = first
        starts = 1
    }

    deinit {
        current?.shutDown()
        media.values.forEach { close($0.fd) }
    }

    /// The engines as the Protector sees them.
    public var engines: [any MalwareEngine] { names.enumerated().map { ScannerEngine(name: $1, index: $0, client: self) } }

    /// Hands a medium over (once per scanner): later requests name ranges of it by the token.
    public func register(medium fd: Int32, size: Int64) -> Int {
        lock.withLock {
            nextToken += 1
            media[nextToken] = (fcntl(fd, F_DUPFD_CLOEXEC, 0), size)
            return nextToken
        }
    }

    public func forget(medium token: Int) {
        let (known, instance) = lock.withLock { (media.removeValue(forKey: token), current) }
        guard let known else { return }
        instance?.forget(token)
        close(known.fd)
    }

    /// Scans `count` bytes at the start of `fd` (a sealed memfd or a file of the agent's), or a
    /// range of a registered medium, with the engines numbered `engines`: one outcome per engine.
    public func scan(_ body: ScannerBody, descriptor: Int32?, label: String, engines: [Int]) -> [EngineOutcome] {
        func failed(_ reason: String) -> [EngineOutcome] { engines.map { _ in EngineOutcome(error: reason) } }
        var medium: (token: Int, fd: Int32, size: Int64)?
        if case let .medium(token, _, _) = body {
            guard let known = lock.withLock({ media[token] }) else { return failed("no medium \(token) is registered") }
            medium = (token, known.fd, known.size)
        }
        let started: (instance: ScannerInstance, id: Int)
        do {
            started = try lock.withLock {
                nextID += 1
                if current == nil || current!.dead {
                    current = nil
                    current = try ScannerInstance.start(job)
                    starts += 1
                }
                return (current!, nextID)
            }
        } catch {
            return failed("the scanner could not be started: \(error)")
        }
        let (instance, id) = started
        let request = ScannerRequest(id: id, engines: engines, label: label, body: body)
        switch instance.ask(request, descriptor: descriptor, medium: medium, deadline: deadline) {
        case let .success(outcomes):
            guard outcomes.count == engines.count else {
                instance.kill("answered \(outcomes.count) engines of \(engines.count)")
                return failed("the scanner broke its protocol")
            }
            return outcomes
        case let .failure(error):
            return failed("\(error)")
        }
    }

    /// Copies `content` into a sealed memfd and scans it (the in-process Protector of `inspect`;
    /// the helper's parts arrive in a memfd already, see `ScanService`).
    public func scan(_ content: ScanContent, engines: [Int]) -> [EngineOutcome] {
        let memory: SealedMemory
        do {
            memory = try SealedMemory(name: "scan")
            try content.forEachChunk(1 << 20) { piece in try piece.withUnsafeBytes { try memory.write($0) } }
            try memory.seal()
        } catch {
            return engines.map { _ in EngineOutcome(error: "the content could not be handed to the scanner: \(error)") }
        }
        return scan(.attached(count: content.count), descriptor: memory.fd, label: content.label, engines: engines)
    }
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

/// An anonymous file in memory for one part's bytes, sealed before the scanner gets it: neither
/// side can change it while it is scanned.
public final class SealedMemory: @unchecked Sendable {
    public let fd: Int32
    public private(set) var count: Int64 = 0

    public init(name: String) throws {
        fd = kiosk_memfd_create(name, KIOSK_MFD_CLOEXEC | KIOSK_MFD_ALLOW_SEALING)
        guard fd >= 0 else { throw ScannerFailure(reason: "memfd_create: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ScannerFailure(reason: "writing a part for the scanner: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        count += Int64(bytes.count)
    }

    /// Sizes the file to `count` bytes and lets `body` fill it in place (mapped, unmapped again
    /// before sealing: a writable mapping would keep the write seal off).
    public func fill<R>(count: Int64, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        guard count > 0 else { return try body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        guard ftruncate(fd, off_t(count)) == 0 else { throw ScannerFailure(reason: "no room for \(count) bytes: \(String(cString: strerror(errno)))") }
        guard let base = mmap(nil, Int(count), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ScannerFailure(reason: "mapping \(count) bytes: \(String(cString: strerror(errno)))")
        }
        defer { munmap(base, Int(count)) }
        self.count = count
        return try body(UnsafeMutableRawBufferPointer(start: base, count: Int(count)))
    }

    public func seal() throws {
        guard fcntl(fd, KIOSK_F_ADD_SEALS, KIOSK_F_SEAL_WRITE | KIOSK_F_SEAL_SHRINK | KIOSK_F_SEAL_GROW | KIOSK_F_SEAL_SEAL) == 0 else {
            throw ScannerFailure(reason: "sealing a part for the scanner: \(String(cString: strerror(errno)))")
        }
    }
}

/// One scanner process: its socket, the requests waiting for an answer, the reader thread.
final class ScannerInstance: @unchecked Sendable {
    let pid: pid_t
    let socket: Int32
    let names: [String]
    let scratch: URL
    private let lock = NSLock()
    private var waiting: [Int: Answer] = [:]
    private var sentMedia = Set<Int>()
    private var ended: String?
    private var killed: String?

    final class Answer: @unchecked Sendable {
        let condition = NSCondition()
        var result: Result<[EngineOutcome], ScannerFailure>?
    }

    var dead: Bool { lock.withLock { ended != nil || killed != nil } }

    private init(pid: pid_t, socket: Int32, names: [String], scratch: URL) {
        self.pid = pid
        self.socket = socket
        self.names = names
        self.scratch = scratch
    }

    /// Started on a thread that lives as long as the agent: the scanner's parent-death signal
    /// (`PR_SET_PDEATHSIG`, set in its sandbox) follows the thread that spawned it, and the threads
    /// that ask for a restart (Dispatch's) end when idle.
    static func start(_ job: ScannerJob) throws -> ScannerInstance {
        try Spawner.shared.run { try spawn(job) }
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
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    private static func spawn(_ job: ScannerJob) throws -> ScannerInstance {
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
        defer { close(pair[1]) }
        let pid: pid_t
        switch SandboxedChild.spawn(ScannerClient.executable, ScannerMain.argument, input: nil, descriptors: [pair[1]],
                                    faultVariable: "KIOSK_AGENT_SCANNER_FAULT") {
        case let .success(started): pid = started
        case let .failure(error):
            close(pair[0])
            try? FileManager.default.removeItem(at: scratch)
            throw ScannerFailure(reason: "the scanner could not be started: \(error)")
        }
        let socket = pair[0]
        liveLock.withLock { _ = live.insert(pid) }
        func abandon(_ reason: String) -> ScannerFailure {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            liveLock.withLock { _ = live.remove(pid) }
            close(socket)
            try? FileManager.default.removeItem(at: scratch)
            return ScannerFailure(reason: reason)
        }
        do {
            try SeqPacket.send(socket, .job, Array(try JSONEncoder().encode(job)))
            // Loading the databases takes a while (seconds for the official set); the answer is bounded.
            guard let packet = try SeqPacket.receive(socket) else { throw abandon("the scanner ended before its engines were loaded") }
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

    /// Sends the request (and the medium first, once) and waits for its answer.
    func ask(_ request: ScannerRequest, descriptor: Int32?, medium: (token: Int, fd: Int32, size: Int64)?,
             deadline: Double) -> Result<[EngineOutcome], ScannerFailure> {
        let answer = Answer()
        let registered: ScannerFailure? = lock.withLock {
            if let reason = ended ?? killed { return ScannerFailure(reason: reason) }
            waiting[request.id] = answer
            return nil
        }
        if let registered { return .failure(registered) }
        do {
            try lock.withLock {
                // Under the lock: the medium goes before any request that names it.
                if let medium, !sentMedia.contains(medium.token) {
                    var payload: [UInt8] = []
                    payload.appendCompact(Int64(medium.token))
                    payload.appendCompact(medium.size)
                    try SeqPacket.send(socket, .medium, payload, passing: medium.fd)
                    sentMedia.insert(medium.token)
                }
            }
            var payload: [UInt8] = []
            request.write(to: &payload)
            try SeqPacket.send(socket, .scan, payload, passing: descriptor)
        } catch {
            kill("could not be sent a request: \(error)")
        }
        let limit = Date().addingTimeInterval(deadline)
        let result: Result<[EngineOutcome], ScannerFailure>? = answer.condition.withLock {
            while answer.result == nil {
                if !answer.condition.wait(until: limit) { break }
            }
            return answer.result
        }
        if let result { return result }
        kill("gave no answer within \(Int(deadline)) s")
        return answer.condition.withLock {
            while answer.result == nil { answer.condition.wait() }
            return answer.result!
        }
    }

    func forget(_ token: Int) {
        lock.withLock {
            guard sentMedia.remove(token) != nil, ended == nil else { return }
            var payload: [UInt8] = []
            payload.appendCompact(Int64(token))
            try? SeqPacket.send(socket, .forget, payload)
        }
    }

    /// Kills the scanner; the reader then fails every scan waiting, with `reason`.
    func kill(_ reason: String) {
        lock.withLock { if killed == nil { killed = reason } }
        Glibc.kill(pid, SIGKILL)
    }

    /// Ends the scanner when the agent is done with it.
    func shutDown() {
        lock.withLock { if killed == nil { killed = "was shut down" } }
        Glibc.kill(pid, SIGKILL)
    }

    /// The reader: answers to their requests, until the scanner ends (then it is reaped).
    private func listen() {
        var reason: String?
        var buffer = SeqPacket.buffer()
        while reason == nil {
            do {
                guard let packet = try SeqPacket.receive(socket, into: &buffer) else { break }
                if let fd = packet.descriptor { close(fd); throw ScannerProtocolError("a descriptor from the scanner") }
                guard packet.kind == .result else { throw ScannerProtocolError("\(packet.kind) from the scanner") }
                var reader = packet.reader()
                let result = try ScannerResult(reading: &reader)
                guard reader.atEnd else { throw ScannerProtocolError("bytes after an answer") }
                guard let answer = lock.withLock({ waiting.removeValue(forKey: result.id) }) else { continue }
                answer.condition.withLock {
                    answer.result = .success(result.outcomes)
                    answer.condition.signal()
                }
            } catch {
                reason = "broke its protocol (\(error))"
                Glibc.kill(pid, SIGKILL)
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        ScannerInstance.liveLock.withLock { _ = ScannerInstance.live.remove(pid) }
        let why = lock.withLock { killed } ?? reason ?? ScannerInstance.ending(status)
        let orphans = lock.withLock {
            ended = why
            defer { waiting = [:] }
            return waiting.values
        }
        for answer in orphans {
            answer.condition.withLock {
                answer.result = .failure(ScannerFailure(reason: "the scanner \(why)"))
                answer.condition.signal()
            }
        }
        try? FileManager.default.removeItem(at: scratch)
    }

    // Closed only when nothing can send on it any more (a closed number could be reused meanwhile).
    deinit { close(socket) }

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

/// One thread for the life of the process, that runs what it is given (starting scanners).
final class Spawner: @unchecked Sendable {
    static let shared = Spawner()
    private let condition = NSCondition()
    private var work: [() -> Void] = []

    private init() {
        let thread = Thread { [self] in
            while true {
                let next = condition.withLock {
                    while work.isEmpty { condition.wait() }
                    return work.removeFirst()
                }
                next()
            }
        }
        thread.start()
    }

    func run<T>(_ body: @escaping () throws -> T) throws -> T {
        let done = NSCondition()
        var result: Result<T, any Error>?
        condition.withLock {
            work.append {
                let outcome = Result { try body() }
                done.withLock { result = outcome; done.signal() }
            }
            condition.signal()
        }
        return try done.withLock {
            while result == nil { done.wait() }
            return result!
        }.get()
    }
}
