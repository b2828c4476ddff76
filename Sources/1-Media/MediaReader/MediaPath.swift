/// A path inside a volume, built only from validated components.
///
/// Hostile media carries names such as `..`, `/etc/passwd`, empty components or names with
/// NUL/control characters (THREATS.md 11, 13). Every volume reader turns its raw names into a
/// `MediaPath` through `SiblingNames` (or `appending(_:)`), so no path that escapes the media
/// root can exist. A hostile name does not hide its file: the file is reached by its extent or
/// cluster chain and gets a stand-in name, while the path remembers the name on the medium.
public struct MediaPath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let components: [String]
    /// The bytes on the medium of the components that were renamed, by component index. Not part
    /// of the path's identity: two paths are equal when their components are.
    private let mediumNames: [Int: [UInt8]]

    public static let root = MediaPath(unchecked: [])

    private init(unchecked components: [String], mediumNames: [Int: [UInt8]] = [:]) {
        self.components = components
        self.mediumNames = mediumNames
    }

    public static func == (lhs: MediaPath, rhs: MediaPath) -> Bool { lhs.components == rhs.components }
    public func hash(into hasher: inout Hasher) { hasher.combine(components) }

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
        return MediaPath(unchecked: components + [name], mediumNames: mediumNames)
    }

    /// Adds a stand-in for a hostile name; `SiblingNames` chose `standIn` so it is safe and unique.
    func appending(standIn: String, for mediumName: [UInt8]) -> MediaPath {
        var names = mediumNames
        names[components.count] = mediumName
        return MediaPath(unchecked: components + [standIn], mediumNames: names)
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

    /// The bytes the medium has for component `index`: its own name, or the hostile name a
    /// stand-in replaced (a directory source opens its files by these).
    func mediumName(at index: Int) -> [UInt8] { mediumNames[index] ?? Array(components[index].utf8) }

    /// Whether any component is a stand-in for a hostile name.
    public var isRenamed: Bool { !mediumNames.isEmpty }

    /// The path as the medium names it, printable: control characters, backslashes and bytes that
    /// are not UTF-8 escaped (`\n`, `\\`, `\x1B`, `\xFF`); nil when nothing was renamed.
    public var mediumDescription: String? {
        guard isRenamed else { return nil }
        return "/" + components.indices.map { index in
            mediumNames[index].map(MediaPath.printable) ?? components[index]
        }.joined(separator: "/")
    }

    /// A name from the medium in printable form, for reports and logs.
    public static func printable(_ bytes: [UInt8]) -> String {
        var text = ""
        var rest = bytes[...]
        while !rest.isEmpty {
            // Decode the longest valid UTF-8 prefix; an invalid byte is shown in hex.
            var iterator = rest.makeIterator()
            var decoder = UTF8()
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar):
                let length = String(scalar).utf8.count
                switch scalar {
                case "\\": text += "\\\\"
                case "/": text += "\\x2F"  // a slash inside one name, not a separator
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                default:
                    if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                        text += "\\x" + MediaPath.hex(UInt8(scalar.value))
                    } else {
                        text.unicodeScalars.append(scalar)
                    }
                }
                rest = rest.dropFirst(length)
            case .emptyInput:
                rest = []
            case .error:
                text += "\\x" + MediaPath.hex(rest.first!)
                rest = rest.dropFirst()
            }
        }
        return text
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
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
