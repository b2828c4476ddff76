import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Shared helpers for tests that build fixtures with real tools (genisoimage, mkfs.vfat, dcmdump…)
/// and read pydicom's real test files.
public enum TestSupport {
    /// The package root (…/Tests/TestSupport/TestSupport.swift → …).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products directory holding the `kiosk-agent` executable next to the test bundle.
    public static var productsDirectory: URL {
        Bundle.main.bundleURL.pathExtension == "xctest"
            ? Bundle.main.bundleURL.deletingLastPathComponent() : Bundle.main.bundleURL
    }

    /// Where `scripts/fetch-test-data` unpacks the pydicom and pydicom-data wheels:
    /// `$KIOSK_TESTDATA`, else `<package>/.cache/testdata`.
    public static var testDataRoot: URL {
        if let env = ProcessInfo.processInfo.environment["KIOSK_TESTDATA"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return packageRoot.appendingPathComponent(".cache/testdata")
    }

    /// pydicom's own test files (`pydicom/data/test_files` in the wheel). Skips the test with the
    /// reason when they have not been fetched.
    /// Waits until `condition` holds or `seconds` pass (checking every 50 ms); returns whether it held.
    public static func poll(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// The processes `pid` started, and theirs (from /proc/PID/task/*/children): tests look at
    /// the processes they started, never at the machine's by name.
    public static func descendants(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let children = tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
        }
        return children + children.flatMap(descendants)
    }

    /// A TCP port nobody listens on right now, as the kernel hands one out (for a peer a test
    /// starts, or a closed port to connect to), instead of a guessed one another program may hold.
    public static func freePort() -> Int {
        let (fd, port) = loopbackSocket(SOCK_STREAM)
        close(fd)
        return port
    }

    /// A socket bound to 127.0.0.1 on a port the kernel chose, and that port; the caller closes it.
    public static func loopbackSocket(_ type: __socket_type) -> (descriptor: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(type.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Whether a process has ended (no longer in /proc, or a zombie waiting for its parent).
    public static func hasEnded(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// The executable a process runs (its /proc/PID/exe), or nil once it has ended.
    public static func executable(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    public static func pydicomTestFiles() throws -> URL {
        let url = testDataRoot.appendingPathComponent("pydicom/pydicom/data/test_files")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("pydicom test files missing at \(url.path): run scripts/fetch-test-data")
        }
        return url
    }

    /// pydicom's character-set test files (`pydicom/data/charset_files`).
    public static func pydicomCharsetFiles() throws -> URL {
        let url = testDataRoot.appendingPathComponent("pydicom/pydicom/data/charset_files")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("pydicom charset files missing at \(url.path): run scripts/fetch-test-data")
        }
        return url
    }

    /// pydicom-data's vendor images (`data_store/data` in the wheel).
    public static func pydicomDataFiles() throws -> URL {
        let url = testDataRoot.appendingPathComponent("pydicom-data/data_store/data")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("pydicom-data files missing at \(url.path): run scripts/fetch-test-data")
        }
        return url
    }

    /// The portal tests' Python peers (Selenium, fido2, aiosmtpd, pyotp and what they need), unpacked by
    /// scripts/fetch-test-data for Debian's /usr/bin/python3.
    public static var pythonLibraries: String { testDataRoot.appendingPathComponent("pylib").path }

    /// Debian's python3 with `pythonLibraries` on its path, once `modules` import; else a skip saying why.
    public static func pythonWith(_ modules: [String]) throws -> (python: String, environment: [String: String]) {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) is missing: run scripts/install-deps") }
        let environment = ["PYTHONPATH": pythonLibraries, "PYTHONDONTWRITEBYTECODE": "1"]
        let result = try run(python, ["-c", "import " + modules.joined(separator: ", ")], environment: environment, check: false)
        guard result.status == 0 else {
            throw XCTSkip("python modules \(modules.joined(separator: ", ")) do not import (run scripts/fetch-test-data): \(result.stderrText)")
        }
        return (python, environment)
    }

    /// PyPI fido2 as an authenticator (and its own relying party): `Tests/TestSupport/fido2_peer.py`.
    public static var fido2Peer: String { packageRoot.appendingPathComponent("Tests/TestSupport/fido2_peer.py").path }

    /// PYTHONPATH that makes the unpacked pydicom wheel importable by `python3`.
    public static var pythonPath: String { testDataRoot.appendingPathComponent("pydicom").path }

    /// Absolute path of an executable on PATH (plus sbin directories, where mkfs.* live), or a skip.
    public static func tool(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw XCTSkip("\(name) is not installed: run scripts/install-deps")
    }

    public struct ToolResult: Sendable {
        public let status: Int32
        public let stdout: Data
        public let stderr: Data
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs a program to completion, capturing its output. Output is drained while the program
    /// runs so that large outputs cannot dead-lock the pipe.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           currentDirectory: URL? = nil, check: Bool = true,
                           file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try tool(executable))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var out = Data(), err = Data()
        group.enter()
        DispatchQueue.global().async { out = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { err = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        process.waitUntilExit()
        group.wait()
        let result = ToolResult(status: process.terminationStatus, stdout: out, stderr: err)
        if check && result.status != 0 {
            XCTFail("\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderrText)",
                    file: file, line: line)
        }
        return result
    }

    /// Runs python3 with the unpacked pydicom on its path (for crafting fixtures and cross-checks).
    @discardableResult
    public static func python(_ script: String, _ arguments: [String] = [], check: Bool = true,
                              file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
        _ = try pydicomTestFiles()
        return try run(try tool("python3"), ["-c", script] + arguments,
                       environment: ["PYTHONPATH": pythonPath], check: check, file: file, line: line)
    }

    /// Writes a DICOMDIR with pydicom whose IMAGE records reference `fileIDs` (components as
    /// given, so hostile ones such as `..` can be written), with zero offsets for the caller to patch.
    public static func writeDICOMDIR(referencing fileIDs: [[String]], to path: String) throws {
        let list = "[" + fileIDs.map { "[" + $0.map { "'\($0)'" }.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]"
        try python("""
            import sys
            from pydicom.dataset import Dataset, FileMetaDataset
            from pydicom.sequence import Sequence
            from pydicom.uid import ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.1.3.10'
            ds.file_meta.MediaStorageSOPInstanceUID = '1.2.3.4'
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.FileSetID = 'TEST'
            records = []
            for path in \(list):
                r = Dataset()
                r.OffsetOfTheNextDirectoryRecord = 0
                r.RecordInUseFlag = 0xFFFF
                r.OffsetOfReferencedLowerLevelDirectoryEntity = 0
                r.DirectoryRecordType = 'IMAGE'
                r.ReferencedFileID = path
                records.append(r)
            ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
            ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
            ds.FileSetConsistencyFlag = 0
            ds.DirectoryRecordSequence = Sequence(records)
            ds.save_as(sys.argv[1], enforce_file_format=True)
            """, [path])
    }

    /// A fresh directory under the system temporary directory, removed by `cleanUp()`.
    public final class TemporaryDirectory: @unchecked Sendable {
        public let url: URL
        public init(_ prefix: String = "kiosk-test") throws {
            url = FileManager.default.temporaryDirectory
                .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        public func cleanUp() { try? FileManager.default.removeItem(at: url) }
        deinit { cleanUp() }
    }
}
