/// A path inside a volume, built only from validated components.
///
/// Hostile media carries names such as `..`, `/etc/passwd`, empty components or names with
/// NUL/control characters (THREATS.md 11, 13). Every volume reader turns its raw names into a
/// `MediaPath` through `appending(_:)`, so no path that escapes the media root can exist.
public struct MediaPath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let components: [String]

    public static let root = MediaPath(unchecked: [])

    private init(unchecked components: [String]) { self.components = components }

    /// Parses a `/`- or `\`-separated path (as found in a DICOMDIR or on the command line),
    /// rejecting anything that could leave the root.
    public init(validating path: String) throws(MediaError) {
        var result = MediaPath.root
        let separators: Set<Character> = ["/", "\\"]
        if let first = path.first, separators.contains(first) {
            throw .unsafePath(path, reason: "absolute path")
        }
        for raw in path.split(omittingEmptySubsequences: false, whereSeparator: { separators.contains($0) }) {
            result = try result.appending(String(raw))
        }
        self = result
    }

    /// Adds one name read from the media. Throws `.unsafePath` for names that are empty, `.`,
    /// `..`, contain a separator, NUL or other control characters, or are absurdly long.
    public func appending(_ name: String) throws(MediaError) -> MediaPath {
        if let reason = MediaPath.problem(with: name) {
            throw .unsafePath(description + "/" + name, reason: reason)
        }
        return MediaPath(unchecked: components + [name])
    }

    static func problem(with name: String) -> String? {
        if name.isEmpty { return "empty component" }
        if name == "." || name == ".." { return "dot component" }
        if name.utf8.count > 1024 { return "component longer than 1024 bytes" }
        for scalar in name.unicodeScalars {
            if scalar == "/" || scalar == "\\" { return "separator inside a name" }
            if scalar.value < 0x20 || scalar.value == 0x7F { return "control character in name" }
        }
        return nil
    }

    public var name: String { components.last ?? "" }
    public var depth: Int { components.count }
    public var parent: MediaPath { MediaPath(unchecked: Array(components.dropLast())) }
    public var description: String { "/" + components.joined(separator: "/") }

    /// Case-insensitive key: ISO9660 level 1 and FAT short names are upper case, while DICOMDIR
    /// Referenced File IDs and Joliet/LFN names may differ in case.
    public var caseInsensitiveKey: String { description.uppercased() }

    public static func < (lhs: MediaPath, rhs: MediaPath) -> Bool {
        lhs.components.lexicographicallyPrecedes(rhs.components)
    }
}
