import Foundation
import LibClamAV
import Protector
import Sandbox

/// What the scanner process loads, sent once when it starts (before its sandbox): the engines'
/// settings, its scratch directory, its resource limits.
public struct ScannerJob: Codable, Sendable, Equatable {
    public struct ClamAV: Codable, Sendable, Equatable {
        public var signatures: [String]
        public var maxFileSize: UInt64
        public var maxScanSize: UInt64
        public var maxRecursion: UInt32
        public var maxScanTimeMilliseconds: UInt32

        public init(signatures: [String], maxFileSize: UInt64, maxScanSize: UInt64, maxRecursion: UInt32, maxScanTimeMilliseconds: UInt32) {
            self.signatures = signatures
            self.maxFileSize = maxFileSize
            self.maxScanSize = maxScanSize
            self.maxRecursion = maxRecursion
            self.maxScanTimeMilliseconds = maxScanTimeMilliseconds
        }
    }

    public struct ICAP: Codable, Sendable, Equatable {
        public var host: String
        public var port: UInt16
        public var service: String

        public init(host: String, port: UInt16, service: String) {
            self.host = host
            self.port = port
            self.service = service
        }
    }

    /// Engines in this order: libclamav, clamd, ICAP (each when set).
    public var clamav: ClamAV?
    public var clamdSocket: String?
    public var icap: ICAP?
    /// Per-scan deadline of the network engines, and the base of the agent's per-request deadline.
    public var timeoutSeconds: Double
    public var scratch: String = ""
    public var resources = ResourceLimits()
    /// Scanning threads (0: one per processor).
    public var threads: Int = 0
    /// How many shared buffers the agent hands over after the job (`ScannerMessage.buffer`).
    public var sharedBuffers: Int = 0

    public init(clamav: ClamAV?, clamdSocket: String?, icap: ICAP?, timeoutSeconds: Double) {
        self.clamav = clamav
        self.clamdSocket = clamdSocket
        self.icap = icap
        self.timeoutSeconds = timeoutSeconds
        // libclamav's compiled databases (the official set is near a gigabyte) and a map per scan
        // in flight: more room than the media helper. CPU time is the scanner's whole life long
        // (it serves every medium); a hang is caught by the agent's per-request deadline.
        resources.addressSpaceBytes = 16 << 30
        resources.cpuSeconds = 30 * 86_400
        resources.openFiles = 256
    }

    public var engineNames: [String] {
        (clamav == nil ? [] : ["clamav"]) + (clamdSocket == nil ? [] : ["clamd"]) + (icap == nil ? [] : ["icap"])
    }

    /// The scanner's threads: at least two, so a slow scan does not hold up every other.
    public var scanningThreads: Int { max(2, threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount) }

    /// The agent's deadline for one request: every engine in turn, each within its own deadline.
    public var requestDeadline: Double { timeoutSeconds * Double(max(1, engineNames.count)) + 10 }

    /// Builds the engines (in the scanner, before its sandbox: the databases are read here).
    public func engines() throws -> [any MalwareEngine] {
        var engines: [any MalwareEngine] = []
        if let clamav {
            var limits = ClamAVEngine.Limits()
            limits.maxFileSize = clamav.maxFileSize
            limits.maxScanSize = clamav.maxScanSize
            limits.maxRecursion = clamav.maxRecursion
            limits.maxScanTimeMilliseconds = clamav.maxScanTimeMilliseconds
            limits.temporaryDirectory = scratch.isEmpty ? nil : scratch
            do {
                engines.append(try ClamAVEngine(signatures: clamav.signatures, limits: limits))
            } catch {
                throw ScannerProtocolError("libclamav could not load \(clamav.signatures.joined(separator: ", ")): \(error)")
            }
        }
        if let clamdSocket { engines.append(ClamdClient(socketPath: clamdSocket, timeout: timeoutSeconds)) }
        if let icap { engines.append(ICAPClient(host: icap.host, port: icap.port, service: icap.service, timeout: timeoutSeconds)) }
        return engines
    }
}
