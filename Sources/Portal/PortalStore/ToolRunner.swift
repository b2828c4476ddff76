import Foundation

/// Runs PostgreSQL's command-line tools, optionally as another account, off the cooperative thread pool
/// (initdb and `pg_ctl start -w` block for seconds).
struct ToolRunner: Sendable {
    struct Outcome: Sendable {
        let status: Int32
        /// stdout and stderr interleaved, as the tool wrote them.
        let output: String

        /// The last lines of the output, for error messages.
        var tail: String {
            output.split(separator: "\n", omittingEmptySubsequences: true).suffix(8).joined(separator: "\n")
        }
    }

    /// When set, tools run under this account (PostgreSQL refuses to run as root).
    let account: Account?

    func run(_ executable: String, _ arguments: [String], in directory: String) async throws(EmbeddedPostgresError) -> Outcome {
        var launchPath = executable
        var launchArguments = arguments
        if let account {
            guard let setpriv = ToolLocator.findInPath("setpriv") else { throw .toolMissing("setpriv (util-linux), to run PostgreSQL as \(account.name)") }
            launchPath = setpriv
            launchArguments = ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", executable] + arguments
        }
        let result: Result<Outcome, EmbeddedPostgresError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.launch(launchPath, launchArguments, in: directory, tool: executable))
            }
        }
        return try result.get()
    }

    private static func launch(_ path: String, _ arguments: [String], in directory: String, tool: String) -> Result<Outcome, EmbeddedPostgresError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        // The tools read these; a stray value from the caller's shell must not redirect them.
        for key in environment.keys where key.hasPrefix("PG") { environment[key] = nil }
        environment["LC_ALL"] = "C"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(.launchFailed(tool: tool, reason: "\(error)"))
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return .success(Outcome(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self)))
    }
}

/// The unprivileged account the cluster runs as when this process is root.
public struct Account: Sendable, Equatable {
    public let name: String
    public let uid: UInt32
    public let gid: UInt32

    /// Looks the account up in the password database.
    public static func named(_ name: String) -> Account? {
        guard let entry = getpwnam(name) else { return nil }
        return Account(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }
}

/// Finds Debian's PostgreSQL tools: PATH first, then the highest /usr/lib/postgresql/<version>/bin.
enum ToolLocator {
    static func findInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The directory holding initdb, pg_ctl and postgres, all from the same installation.
    static func binDirectory() -> String? {
        if let initdb = findInPath("initdb") {
            // Debian links /usr/bin tools through a wrapper; resolve to the real directory, which also has `postgres`.
            let resolved = URL(fileURLWithPath: initdb).resolvingSymlinksInPath().deletingLastPathComponent().path
            if FileManager.default.isExecutableFile(atPath: resolved + "/pg_ctl") { return resolved }
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb") { return bin }
        }
        return nil
    }
}
