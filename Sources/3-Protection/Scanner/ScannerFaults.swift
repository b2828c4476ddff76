import Foundation
import Protector
#if canImport(Glibc)
import Glibc
#endif

/// Deliberate misbehaviour of the scanner, for the sandbox and fault tests only: debug builds read
/// `KIOSK_AGENT_SCANNER_FAULT=<action>@<marker>` and act when a scanned content holds the marker's
/// bytes, the way an engine exploited by that content would. What a probe could or could not do
/// is the scan's answer (and on stderr). Release builds compile it to nothing.
enum ScannerFaults {
    static func trigger(_ content: ScanContent) -> [String]? {
        #if DEBUG
        guard let spec = ProcessInfo.processInfo.environment["KIOSK_AGENT_SCANNER_FAULT"],
              let at = spec.lastIndex(of: "@") else { return nil }
        let marker = Array(spec[spec.index(after: at)...].utf8)
        guard !marker.isEmpty, holds(content, marker) else { return nil }
        let action = String(spec[..<at])
        let argument = action.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        func report(_ what: String, _ result: Int32) -> [String] {
            let answer = "fault \(what): " + (result < 0 ? "refused (errno \(errno))" : "ALLOWED")
            ScannerMain.diagnose(answer)
            return [answer]
        }
        switch action.split(separator: ":").first.map(String.init) ?? "" {
        case "crash":
            UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
        case "hang":
            while true { sleep(60) }
        case "write":
            return report("write \(argument)", open(argument, O_WRONLY | O_CREAT | O_TRUNC, 0o600))
        case "read":
            return report("read \(argument)", open(argument, O_RDONLY))
        case "exec":
            return report("exec", execv("/bin/true", [strdup("/bin/true"), nil]))
        default:
            ScannerMain.diagnose("unknown fault \(action)")
        }
        #endif
        return nil
    }

    #if DEBUG
    private static func holds(_ content: ScanContent, _ marker: [UInt8]) -> Bool {
        var found = false
        try? content.forEachChunk(1 << 20) { piece in
            guard !found, piece.count >= marker.count else { return }
            let bytes = Array(piece)
            for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
                if Array(bytes[start..<(start + marker.count)]) == marker { found = true; return }
            }
        }
        return found
    }
    #endif
}
