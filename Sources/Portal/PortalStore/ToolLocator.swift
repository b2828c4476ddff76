import Foundation

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
