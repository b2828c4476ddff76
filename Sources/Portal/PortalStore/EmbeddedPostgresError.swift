/// Why the private cluster could not be prepared, started or stopped.
public enum EmbeddedPostgresError: Error, Equatable, CustomStringConvertible {
    case toolMissing(String)
    case accountMissing(String)
    case launchFailed(tool: String, reason: String)
    case toolFailed(tool: String, status: Int32, output: String)
    case directory(path: String, reason: String)
    case socketPathTooLong(String)

    public var description: String {
        switch self {
        case .toolMissing(let tool):
            "PostgreSQL tool not found: \(tool) (install the Debian package `postgresql`)"
        case .accountMissing(let name):
            "no account named \(name) to run PostgreSQL as (it refuses to run as root)"
        case .launchFailed(let tool, let reason):
            "could not start \(tool): \(reason)"
        case .toolFailed(let tool, let status, let output):
            "\(tool) failed with status \(status):\n\(output)"
        case .directory(let path, let reason):
            "cluster directory \(path): \(reason)"
        case .socketPathTooLong(let path):
            "socket path \(path) is longer than a Unix socket address allows (107 bytes): choose a shorter state directory"
        }
    }
}
