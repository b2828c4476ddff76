import Foundation
import MediaReader

/// Deliberate misbehaviour of the media helper, for the sandbox and fault tests only: debug builds
/// read `KIOSK_AGENT_HELPER_FAULT=<action>@<file name>` and act when that file is reached, the way
/// an exploited parser would. Release builds compile it to nothing.
public enum Faults {
    public static func trigger(at path: MediaPath) {
        #if DEBUG
        guard let spec = ProcessInfo.processInfo.environment["KIOSK_AGENT_HELPER_FAULT"],
              let at = spec.lastIndex(of: "@"), String(spec[spec.index(after: at)...]) == path.name else { return }
        let action = String(spec[..<at])
        let argument = action.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        func report(_ what: String, _ result: Int32) {
            MediaHelper.diagnose("fault \(what): " + (result < 0 ? "refused (errno \(errno))" : "ALLOWED"))
        }
        switch action.split(separator: ":").first.map(String.init) ?? "" {
        case "crash":
            UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
        case "pause":
            MediaHelper.diagnose("fault pause: \(argument) s")
            sleep(UInt32(argument) ?? 1)
        case "hang":
            while true { sleep(60) }
        case "spin":
            var x = 0
            while true { x &+= 1; if x == 0 { MediaHelper.diagnose("") } }
        case "memory":
            var hoard: [[UInt8]] = []
            while true { hoard.append([UInt8](repeating: 1, count: 256 << 20)) }
        case "exec":
            report("exec", execv("/bin/true", [strdup("/bin/true"), nil]))
        case "connect":
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            report("socket", fd)
            guard fd >= 0 else { return }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(argument) ?? 0).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            report("connect", result)
        case "write":
            report("write \(argument)", open(argument, O_WRONLY | O_CREAT | O_TRUNC, 0o600))
        case "read":
            report("read \(argument)", open(argument, O_RDONLY))
        default:
            MediaHelper.diagnose("unknown fault \(action)")
        }
        #endif
    }
}
