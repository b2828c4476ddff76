import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// DCMTK's storescp as a PACS on loopback (with TCP_NODELAY=1, else it adds ~40 ms per instance),
/// receiving into a temporary directory, stopped when released.
public final class StoreSCPPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let port: Int
    public let aeTitle: String
    private let process: Process

    /// `arguments` go before the port, e.g. `["+xa"]` (accept every syntax), `["--ignore"]`.
    /// `port`: a fixed port (tests that start the PACS after the agent knows where it is).
    public init(aeTitle: String = "STORESCP", arguments: [String] = ["+xa"], port fixed: Int? = nil) throws {
        let storescp = try TestSupport.tool("storescp")
        directory = try TestSupport.TemporaryDirectory("storescp")
        self.aeTitle = aeTitle
        var started: (Process, Int)?
        for _ in 0..<5 {
            let port = fixed ?? TestSupport.freePort()
            try FileManager.default.createDirectory(atPath: directory.path("in"), withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: storescp)
            process.arguments = ["-aet", aeTitle, "-od", directory.path("in")] + arguments + [String(port)]
            process.environment = ProcessInfo.processInfo.environment.merging(["TCP_NODELAY": "1"]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if (try? Peers.wait("storescp", log: "/dev/null", process: process, seconds: 10) { Peers.listens(process.processIdentifier, port) }) != nil {
                started = (process, port)
                break
            }
            kill(process.processIdentifier, SIGKILL)
        }
        guard let started else { throw XCTSkip("storescp did not come up on loopback") }
        (process, port) = started
    }

    /// The files it received.
    public var received: [URL] {
        let root = directory.url.appendingPathComponent("in")
        return ((try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []).sorted { $0.path < $1.path }
    }

    /// SIGKILL: storescp sits in accept() and ignores SIGTERM; every file it took is already written.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning && !Peers.isZombie(process.processIdentifier) { Thread.sleep(forTimeInterval: 0.01) }
    }

    deinit { stop() }
}

/// Orthanc on loopback with the DICOMweb plugin: a real PACS for C-STORE and STOW-RS. Temporary
/// storage, DICOM and HTTP ports on 127.0.0.1, `TCP_NODELAY=1`. `restart()` keeps the storage, as a
/// PACS restarting after a crash does.
public final class OrthancPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public private(set) var dicomPort = 0
    public private(set) var httpPort = 0
    public let aeTitle: String
    private let executable: String
    private var process: Process?

    /// `users`: HTTP basic credentials to require (none = no authentication). `lua`: a script Orthanc
    /// runs (e.g. an `IncomingHttpRequestFilter` that checks a bearer token).
    public init(aeTitle: String = "ORTHANC", users: [String: String] = [:], lua: String? = nil) throws {
        executable = try TestSupport.tool("Orthanc")
        let plugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
        guard FileManager.default.fileExists(atPath: plugin) else { throw XCTSkip("orthanc-dicomweb is not installed: run scripts/install-deps") }
        directory = try TestSupport.TemporaryDirectory("orthanc")
        self.aeTitle = aeTitle
        var configuration: [String: Any] = [
            "Name": "kiosk-test",
            "StorageDirectory": directory.path("storage"),
            "IndexDirectory": directory.path("index"),
            "DicomAet": aeTitle,
            "DicomCheckCalledAet": true,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": !users.isEmpty,
            "RegisteredUsers": users,
            "Plugins": [plugin],
            "DicomWeb": ["Enable": true, "Root": "/dicom-web/"],
            "StorageCompression": false,
            "SaveJobs": false,
            "ConcurrentJobs": 1,
            "DicomScpTimeout": 30,
            "HttpTimeout": 60,
            "LimitFindResults": 0,
        ]
        if let lua {
            let script = directory.url.appendingPathComponent("filter.lua")
            try Data(lua.utf8).write(to: script)
            configuration["LuaScripts"] = [script.path]
        }
        // A port picked free can be taken (another test's outgoing connection) before Orthanc binds it, and then
        // Orthanc never becomes ready: a few attempts, each on new ports.
        var failure: (any Error)?
        for _ in 0..<3 {
            dicomPort = TestSupport.freePort()
            httpPort = TestSupport.freePort()
            configuration["HttpPort"] = httpPort
            configuration["DicomPort"] = dicomPort
            try JSONSerialization.data(withJSONObject: configuration).write(to: directory.url.appendingPathComponent("orthanc.json"))
            do {
                try start(seconds: 90)
                return
            } catch {
                failure = error
                kill()
            }
        }
        throw failure!
    }

    /// Starts (or restarts, on the same ports) Orthanc and waits until it listens on both.
    public func start(seconds: Double = 180) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [directory.path("orthanc.json"), "--logfile=" + directory.path("orthanc.log")]
        process.environment = ProcessInfo.processInfo.environment.merging(["TCP_NODELAY": "1"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try Peers.wait("Orthanc", log: directory.path("orthanc.log"), process: process, seconds: seconds) {
            Peers.listens(process.processIdentifier, dicomPort) && Peers.listens(process.processIdentifier, httpPort)
        }
    }

    /// SIGKILL: a PACS that dies mid-association.
    public func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        while process.isRunning && !Peers.isZombie(process.processIdentifier) { Thread.sleep(forTimeInterval: 0.02) }
    }

    public func stop() { if let process { Peers.stop(process) } }

    public var dicomURL: String { "dicom://\(aeTitle)@127.0.0.1:\(dicomPort)" }
    public var dicomwebURL: String { "dicomweb+http://127.0.0.1:\(httpPort)/dicom-web" }

    /// GET on the REST API (with curl, a real HTTP client), as JSON.
    public func get(_ path: String, user: String? = nil) throws -> Any {
        var arguments = ["-sf", "--max-time", "60", "http://127.0.0.1:\(httpPort)\(path)"]
        if let user { arguments += ["-u", user] }
        let result = try TestSupport.run("curl", arguments)
        return try JSONSerialization.jsonObject(with: result.stdout)
    }

    /// GET on the REST API, the body as it is (an instance's `/file`).
    public func bytes(_ path: String) throws -> Data {
        try TestSupport.run("curl", ["-sf", "--max-time", "60", "http://127.0.0.1:\(httpPort)\(path)"]).stdout
    }

    /// The SOP Instance UIDs Orthanc holds, and how many instances it counts.
    public func sopInstanceUIDs(user: String? = nil) throws -> [String] {
        let instances = try get("/instances?expand", user: user) as? [[String: Any]] ?? []
        return instances.compactMap { ($0["MainDicomTags"] as? [String: Any])?["SOPInstanceUID"] as? String }.sorted()
    }

    deinit { stop() }
}
