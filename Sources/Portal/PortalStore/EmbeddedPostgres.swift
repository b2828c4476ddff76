import Foundation
import Logging

/// A private PostgreSQL cluster under one directory, reachable only through a Unix socket in it.
///
/// Layout: `data/` (PGDATA), `run/` (the socket, 0700), `log/` (the server's log, a week of it), `postgres.log`
/// (what the server says before its logging process starts: start-up failures). When this process is root the
/// whole directory belongs to `account` and the tools run as it, because PostgreSQL refuses to run as root.
public struct EmbeddedPostgres: Sendable {
    public static let superuser = "portal"
    public static let database = "portal"

    /// `volatile` skips every fsync: for throw-away clusters (tests, benchmarks), where a crash may lose them.
    public enum Durability: Sendable {
        case durable
        case volatile
    }

    public let directory: String
    public let durability: Durability
    /// The account the server runs as; nil when this process is not root (it runs as us).
    public let account: Account?
    private let bin: String
    private let logger: Logger

    public var dataDirectory: String { directory + "/data" }
    public var socketDirectory: String { directory + "/run" }
    public var socketPath: String { socketDirectory + "/.s.PGSQL.5432" }
    public var logFile: String { directory + "/postgres.log" }
    /// One file per weekday (`postgresql-Mon.log` …), emptied when its day comes round again.
    public var logDirectory: String { directory + "/log" }

    /// - Parameter runAs: the account to run as when root: by default `postgres` if it exists, else `nobody`.
    public init(directory: String, runAs: String? = nil, durability: Durability = .durable, logger: Logger = Logger(label: "portal.postgres")) throws(EmbeddedPostgresError) {
        guard let bin = ToolLocator.binDirectory() else { throw .toolMissing("initdb (searched PATH and /usr/lib/postgresql/*/bin)") }
        self.bin = bin
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.durability = durability
        self.logger = logger
        if geteuid() == 0 {
            let name = runAs ?? (Account.named("postgres") != nil ? "postgres" : "nobody")
            guard let account = Account.named(name) else { throw .accountMissing(name) }
            self.account = account
        } else {
            self.account = nil
        }
        guard socketPath.utf8.count < 108 else { throw .socketPathTooLong(socketPath) }
    }

    /// Settings for connecting to this cluster once it runs.
    public var settings: DatabaseSettings {
        DatabaseSettings(endpoint: .unixSocket(path: socketPath), username: Self.superuser, password: nil, database: Self.database, tls: .disable)
    }

    /// Creates the cluster the first time, then starts it unless it already runs. A postmaster.pid left by a
    /// crash is pg_ctl's to judge (it starts over a stale one).
    public func start() async throws(EmbeddedPostgresError) {
        try prepareDirectories()
        let tools = ToolRunner(account: account)
        if !FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("creating PostgreSQL cluster", metadata: ["directory": "\(dataDirectory)"])
            let outcome = try await tools.run(bin + "/initdb", [
                "--pgdata=\(dataDirectory)", "--username=\(Self.superuser)", "--encoding=UTF8", "--locale=C",
                "--auth-local=trust", "--auth-host=reject", "--no-instructions",
            ] + (durability == .volatile ? ["--no-sync"] : []), in: directory)
            guard outcome.status == 0 else { throw .toolFailed(tool: "initdb", status: outcome.status, output: outcome.tail) }
        }
        // Every step from here is idempotent, so a start interrupted half-way is finished by the next one.
        try includeRuntimeSettings()
        try writeRuntimeSettings()
        if try await !isRunning() {
            let outcome = try await tools.run(bin + "/pg_ctl", [
                "start", "--pgdata=\(dataDirectory)", "--wait", "--timeout=60", "--log=\(logFile)", "--silent",
            ], in: directory)
            guard outcome.status == 0 else {
                throw .toolFailed(tool: "pg_ctl start", status: outcome.status, output: outcome.tail + logTail())
            }
        }
        try await createDatabaseIfMissing(tools)
        logger.info("PostgreSQL running", metadata: ["socket": "\(socketPath)"])
    }

    /// Stops the server, ending sessions at once (`-m fast`): in-flight transactions roll back.
    public func stop() async throws(EmbeddedPostgresError) {
        guard try await isRunning() else { return }
        let outcome = try await ToolRunner(account: account).run(bin + "/pg_ctl", [
            "stop", "--pgdata=\(dataDirectory)", "--mode=fast", "--wait", "--timeout=60", "--silent",
        ], in: directory)
        guard outcome.status == 0 else { throw .toolFailed(tool: "pg_ctl stop", status: outcome.status, output: outcome.tail) }
    }

    /// Whether a server is running on this cluster (`pg_ctl status`: 0 running, 3 not running, 4 no cluster).
    public func isRunning() async throws(EmbeddedPostgresError) -> Bool {
        // No cluster yet (pg_ctl could not even enter the directory).
        guard FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") else { return false }
        let outcome = try await ToolRunner(account: account).run(bin + "/pg_ctl", ["status", "--pgdata=\(dataDirectory)"], in: directory)
        switch outcome.status {
        case 0: return true
        case 3, 4: return false
        default: throw .toolFailed(tool: "pg_ctl status", status: outcome.status, output: outcome.tail)
        }
    }

    private func prepareDirectories() throws(EmbeddedPostgresError) {
        let manager = FileManager.default
        do {
            // Parents as the umask makes them (the server's account must walk through them); the cluster itself 0700.
            try manager.createDirectory(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
            try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: socketDirectory)
        } catch {
            throw .directory(path: directory, reason: "\(error)")
        }
        guard let account else { return }
        for path in [directory, socketDirectory] where chown(path, account.uid, account.gid) != 0 {
            throw .directory(path: path, reason: "cannot give it to \(account.name): \(String(cString: strerror(errno)))")
        }
        try checkReachable(by: account)
    }

    /// The account must be able to walk down to the cluster directory; a 0700 state directory owned by root
    /// would stop it, with an initdb message far less clear than this one.
    private func checkReachable(by account: Account) throws(EmbeddedPostgresError) {
        var ancestor = URL(fileURLWithPath: directory).deletingLastPathComponent()
        while ancestor.path != "/" {
            var info = stat()
            if stat(ancestor.path, &info) == 0 {
                let mode = info.st_mode
                let searchable = info.st_uid == account.uid ? mode & S_IXUSR != 0
                    : info.st_gid == account.gid ? mode & S_IXGRP != 0 : mode & S_IXOTH != 0
                guard searchable else {
                    throw .directory(path: directory, reason: "\(account.name) cannot reach it: \(ancestor.path) has mode \(String(mode & 0o7777, radix: 8))")
                }
            }
            ancestor.deleteLastPathComponent()
        }
    }

    /// postgresql.conf includes portal.conf, rewritten at every start so the socket follows the directory.
    private func includeRuntimeSettings() throws(EmbeddedPostgresError) {
        let conf = dataDirectory + "/postgresql.conf"
        let include = "include_if_exists = 'portal.conf'"
        guard let current = FileManager.default.contents(atPath: conf) else { throw .directory(path: conf, reason: "cannot read it") }
        guard !String(decoding: current, as: UTF8.self).contains(include) else { return }
        guard let handle = FileHandle(forWritingAtPath: conf) else { throw .directory(path: conf, reason: "cannot open for writing") }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("\n# dicom-portal: settings owned by the portal, rewritten at each start\n\(include)\n".utf8))
        } catch {
            throw .directory(path: conf, reason: "\(error)")
        }
    }

    private func writeRuntimeSettings() throws(EmbeddedPostgresError) {
        let path = dataDirectory + "/portal.conf"
        var text = """
            # Written by dicom-portal at each start; edits are overwritten.
            listen_addresses = ''
            unix_socket_directories = '\(socketDirectory.replacingOccurrences(of: "'", with: "''"))'
            unix_socket_permissions = 0700
            # No JIT: the services run with MemoryDenyWriteExecute, and the portal's queries are short.
            jit = off
            # The server's log, kept a week without growing for ever: one file per weekday, emptied when its
            # day comes round again.
            logging_collector = on
            log_directory = '\(logDirectory.replacingOccurrences(of: "'", with: "''"))'
            log_filename = 'postgresql-%a.log'
            log_truncate_on_rotation = on
            log_rotation_age = 1d
            log_rotation_size = 0

            """
        if durability == .volatile {
            text += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw .directory(path: path, reason: "\(error)")
        }
        if let account, chown(path, account.uid, account.gid) != 0 {
            throw .directory(path: path, reason: "cannot give it to \(account.name): \(String(cString: strerror(errno)))")
        }
    }

    /// initdb makes only `postgres`; the portal's database is created once through psql on the socket.
    private func createDatabaseIfMissing(_ tools: ToolRunner) async throws(EmbeddedPostgresError) {
        let psql = [bin + "/psql", "--no-psqlrc", "--quiet", "--tuples-only", "--no-align",
                    "--host=\(socketDirectory)", "--username=\(Self.superuser)", "--dbname=postgres"]
        let exists = try await tools.run(psql[0], Array(psql.dropFirst()) + ["--command=SELECT 1 FROM pg_database WHERE datname = '\(Self.database)'"], in: directory)
        guard exists.status == 0 else { throw .toolFailed(tool: "psql", status: exists.status, output: exists.tail) }
        guard exists.output.trimmingCharacters(in: .whitespacesAndNewlines) != "1" else { return }
        let create = try await tools.run(psql[0], Array(psql.dropFirst()) + ["--command=CREATE DATABASE \(Self.database)"], in: directory)
        guard create.status == 0 else { throw .toolFailed(tool: "psql", status: create.status, output: create.tail) }
    }

    private func logTail() -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "" }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(8)
        return "\n--- \(logFile) ---\n" + lines.joined(separator: "\n")
    }
}
