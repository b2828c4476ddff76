/// Names the entries of one directory. Safe names are kept as they are; a hostile one (`..`,
/// `..\..\x`, `/etc/passwd`, empty, NUL or control characters, over-long) gets a stand-in so its
/// file is still imported: the name is untrusted, the content is reached by its extent or
/// cluster chain all the same.
///
/// The stand-in is the name with every unsafe character written as `%XX` (its UTF-8 or raw
/// bytes in hex), `.`/`..` as `%2E`/`%2E%2E`, an empty name as `%`, cut to 200 bytes; when that is
/// already a name in the directory (compared case-insensitively, as ISO 9660, FAT and DICOMDIR
/// lookups are), `~2`, `~3`, … is appended. All names of the directory are known before the first
/// stand-in is chosen, so the result depends only on the directory's contents and order.
public struct SiblingNames {
    /// Upper-cased names in use: every safe name of the directory, and each stand-in chosen.
    private var taken: Set<String>
    /// Safe names already given out: a second entry with exactly the same name (a hand-edited
    /// directory) gets a stand-in too, so no two entries share a path.
    private var given: Set<String> = []

    /// - Parameter mediumNames: every name in the directory, in its order on the medium.
    public init<S: Sequence>(_ mediumNames: S) where S.Element == [UInt8] {
        taken = []
        for bytes in mediumNames {
            if let name = String(validating: bytes, as: UTF8.self), MediaPath.problem(with: name) == nil {
                taken.insert(name.uppercased())
            }
        }
    }

    public init<S: Sequence>(names: S) where S.Element == String {
        self.init(names.lazy.map { Array($0.utf8) })
    }

    public struct Named {
        public let path: MediaPath
        /// Set when the name had to be replaced: what was wrong with it (→ `media.path-traversal`).
        public let renamed: MediaError?
    }

    /// The path of the entry called `mediumName` in the directory at `parent`. `objection`: the
    /// volume's own reason to refuse a name `MediaPath` accepts (a ZIP drive letter, `C:`); its
    /// stand-in has `:` escaped as well.
    public mutating func child(of parent: MediaPath, named mediumName: [UInt8], objection: String? = nil) -> Named {
        let text = String(validating: mediumName, as: UTF8.self)
        var reason = objection ?? text.map { MediaPath.problem(with: $0) } ?? "name is not valid UTF-8"
        if reason == nil, let text, let path = try? parent.appending(text) {
            if given.insert(text).inserted { return Named(path: path, renamed: nil) }
            reason = "a second entry with this name"
        }
        var escaped = SiblingNames.escaped(mediumName)
        if objection != nil { escaped = String(escaped.flatMap { $0 == ":" ? Array("%3A") : [$0] }) }
        var standIn = escaped
        var suffix = 1
        while taken.contains(standIn.uppercased()) {
            suffix += 1
            standIn = escaped + "~\(suffix)"
        }
        taken.insert(standIn.uppercased())
        let path = parent.appending(standIn: standIn, for: mediumName)
        let shown = (parent.mediumDescription ?? parent.description) + (parent.depth == 0 ? "" : "/") + MediaPath.printable(mediumName)
        return Named(path: path, renamed: .renamed(shown, as: path.description, reason: reason ?? "unsafe name"))
    }

    public mutating func child(of parent: MediaPath, named mediumName: String) -> Named {
        child(of: parent, named: Array(mediumName.utf8))
    }

    static let maxStandInBytes = 200

    static func escaped(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "%" }
        if bytes == [0x2E] { return "%2E" }
        if bytes == [0x2E, 0x2E] { return "%2E%2E" }
        var text = ""
        var rest = bytes[...]
        while !rest.isEmpty, text.utf8.count < maxStandInBytes {
            var iterator = rest.makeIterator()
            var decoder = UTF8()
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar):
                let encoded = Array(String(scalar).utf8)
                if scalar == "/" || scalar == "\\" || scalar == "%" || scalar.value < 0x20 || scalar.value == 0x7F {
                    text += "%" + MediaPath.hex(encoded[0])
                } else {
                    text.unicodeScalars.append(scalar)
                }
                rest = rest.dropFirst(encoded.count)
            case .emptyInput:
                rest = []
            case .error:
                text += "%" + MediaPath.hex(rest.first!)
                rest = rest.dropFirst()
            }
        }
        // A name that is all dots would still read as "." or ".." to some tools once cut.
        if text.allSatisfy({ $0 == "." }) { text = "%2E" + text.dropFirst() }
        return text
    }
}
