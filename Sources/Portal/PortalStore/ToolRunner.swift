import Foundation
import POSIX

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
        let (launchPath, launchArguments) = try command(executable, arguments)
        let result: Result<Outcome, EmbeddedPostgresError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.launch(launchPath, launchArguments, in: directory, tool: executable))
            }
        }
        return try result.get()
    }

    /// The tool itself, or setpriv running it as `account`.
    private func command(_ executable: String, _ arguments: [String]) throws(EmbeddedPostgresError) -> (String, [String]) {
        guard let account else { return (executable, arguments) }
        guard let setpriv = ToolLocator.findInPath("setpriv") else { throw .toolMissing("setpriv (util-linux), to run PostgreSQL as \(account.name)") }
        return (setpriv, ["--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", executable] + arguments)
    }

    /// posix_spawn and a blocking waitpid: Foundation's Process on Linux was seen to leave `pg_ctl` unreaped
    /// (a zombie) and its caller waiting forever once the server it started lived on.
    private static func launch(_ path: String, _ arguments: [String], in directory: String, tool: String) -> Result<Outcome, EmbeddedPostgresError> {
        // Output goes to a file, not a pipe: the server `pg_ctl start` leaves running could hold a pipe open.
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("portal-\(UUID().uuidString).out").path
        let output: Descriptor
        do { output = try Descriptor.open(capture, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o600) } catch {
            return .failure(.launchFailed(tool: tool, reason: "cannot create \(capture): \(error)"))
        }
        defer { unlink(capture) }
        var environment = ProcessInfo.processInfo.environment
        // The tools read these; a stray value from the caller's shell must not redirect them.
        for key in environment.keys where key.hasPrefix("PG") { environment[key] = nil }
        environment["LC_ALL"] = "C"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output.rawValue, 1)
        posix_spawn_file_actions_adddup2(&actions, output.rawValue, 2)

        // env --chdir: a working directory the account can enter (glibc's addchdir_np is not exported to Swift).
        let argv = (["/usr/bin/env", "--chdir=\(directory)", path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        // The dup2 actions run in the child: `output` stays open until it is spawned.
        let spawned = withExtendedLifetime(output) { posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp) }
        guard spawned == 0 else { return .failure(.launchFailed(tool: tool, reason: String(cString: strerror(spawned)))) }
        var status: Int32 = 0
        guard retryingOnInterrupt({ waitpid(pid, &status, 0) }) >= 0 else {
            return .failure(.launchFailed(tool: tool, reason: "waitpid: \(String(cString: strerror(errno)))"))
        }
        // WIFEXITED / WEXITSTATUS; a tool killed by a signal reports 128 + the signal, as shells do.
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let data = FileManager.default.contents(atPath: capture) ?? Data()
        return .success(Outcome(status: exitStatus, output: String(decoding: data, as: UTF8.self)))
    }
}
