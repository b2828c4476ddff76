import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// A `dicom-portal` service process (`core` or `worker`) the test started, logging to a file, stopped when
/// released: SIGTERM and a grace period (what systemd does), or SIGKILL for the fault tests.
public final class PortalProcess: @unchecked Sendable {
    public let process: Process
    public let log: String

    public init(_ binary: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    /// False once the process has ended, also while Foundation has yet to reap it: a child SIGKILLed
    /// during an async test can stay a zombie for Foundation until the test returns.
    public var isRunning: Bool { process.isRunning && !Peers.isZombie(process.processIdentifier) }
    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Waits until the process (or a child of it) listens on `port`.
    public func waitListening(_ port: Int, seconds: Double = 90) throws {
        try Peers.wait("dicom-portal", log: log, process: process, seconds: seconds) { Peers.listens(process.processIdentifier, port) }
    }

    /// Waits until the log contains `text`; false when the process ended or time ran out.
    public func waitFor(_ text: String, seconds: Double = 60) -> Bool {
        TestSupport.poll(seconds) { output.contains(text) || !process.isRunning } && output.contains(text)
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns the exit status (nil when killed).
    @discardableResult
    public func stop(grace: Double = 30) -> Int32? {
        guard isRunning else { return process.isRunning ? nil : process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if isRunning {
            kill()
            return nil
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// SIGKILL, as a crash or the OOM killer would.
    public func kill() {
        guard isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        while isRunning { Thread.sleep(forTimeInterval: 0.02) }
    }

    deinit { stop(grace: 10) }
}
