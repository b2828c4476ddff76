import DICOMCore
import Foundation

/// A configuration file's root: the kiosk's `Configuration`, or a product's configuration that embeds it.
public protocol ConfigurationRoot: Sendable {
    init()
}

/// One key of a configuration file: its table, the field of `Root` it sets and the kind of value it
/// takes. A root's `settings` list every key once; the parser knows no other.
public struct ConfigSetting<Root: ConfigurationRoot>: Sendable {
    public let table: String
    public let key: String
    /// `table.key` (`key` alone in the root table), as errors name it.
    public let name: String
    private let assign: @Sendable (inout Root, String, SettingPlace) throws -> Void
    private let render: @Sendable (Root) -> String?
    /// What an unset optional means, written as in the file.
    private let unset: String?

    /// A field that always has a value; its initial value in `Root` is the default.
    public init<Value>(_ table: String, _ key: String, _ field: any WritableKeyPath<Root, Value> & Sendable, _ kind: SettingKind<Value>) {
        self.table = table
        self.key = key
        name = table.isEmpty ? key : "\(table).\(key)"
        assign = { root, text, place in root[keyPath: field] = try kind.decode(text, place) }
        render = { kind.encode($0[keyPath: field]) }
        unset = nil
    }

    /// A field that is nil unless the file sets it. `unset` is what nil stands for when the
    /// sample file states it as a value (the destination's `"archive:"`).
    public init<Value>(_ table: String, _ key: String, optional field: any WritableKeyPath<Root, Value?> & Sendable, _ kind: SettingKind<Value>,
                unset: Value? = nil) {
        self.table = table
        self.key = key
        name = table.isEmpty ? key : "\(table).\(key)"
        assign = { root, text, place in root[keyPath: field] = try kind.decode(text, place) }
        render = { $0[keyPath: field].map(kind.encode) }
        self.unset = unset.map(kind.encode)
    }

    private init(table: String, key: String, assign: @escaping @Sendable (inout Root, String, SettingPlace) throws -> Void,
                 render: @escaping @Sendable (Root) -> String?, unset: String?) {
        self.table = table
        self.key = key
        name = table.isEmpty ? key : "\(table).\(key)"
        self.assign = assign
        self.render = render
        self.unset = unset
    }

    /// This setting as a key of a larger file whose root holds `Root` at `part`, optionally in another table.
    public func lifted<Outer: ConfigurationRoot>(into part: any WritableKeyPath<Outer, Root> & Sendable,
                                                 table: String? = nil) -> ConfigSetting<Outer> {
        let assign = self.assign, render = self.render
        return ConfigSetting<Outer>(table: table ?? self.table, key: key,
                                    assign: { outer, text, place in try assign(&outer[keyPath: part], text, place) },
                                    render: { render($0[keyPath: part]) }, unset: unset)
    }

    /// Reads `text`, the value after `=`, into `root`; errors name the key and `line`.
    public func apply(_ text: String, line: Int, to root: inout Root) throws {
        try assign(&root, text, SettingPlace(name: name, line: line))
    }

    /// The setting's value in `root`, written as the file would; nil when unset.
    public func value(in root: Root) -> String? { render(root) }

    /// The default as the sample file states it: the field's initial value, or what unset
    /// stands for; nil when unset simply means "not used".
    public var documentedDefault: String? { render(Root()) ?? unset }
}

extension Configuration {
    public typealias Setting = ConfigSetting<Configuration>
}

/// Where a value stands in the file, so that every error names the key and the line.
public struct SettingPlace: Sendable {
    public let name: String
    public let line: Int

    /// `NAME must be …`, `NAME has …`.
    public func error(_ predicate: String) -> Configuration.Error { Configuration.Error(line: line, message: "\(name) \(predicate)") }
    /// `NAME: …`.
    public func error(detail: String) -> Configuration.Error { Configuration.Error(line: line, message: "\(name): \(detail)") }
}

/// How a kind of value is read from the file, checked, and written back.
public struct SettingKind<Value>: Sendable {
    public let decode: @Sendable (_ text: String, _ place: SettingPlace) throws -> Value
    public let encode: @Sendable (Value) -> String

    public init(decode: @escaping @Sendable (_ text: String, _ place: SettingPlace) throws -> Value, encode: @escaping @Sendable (Value) -> String) {
        self.decode = decode
        self.encode = encode
    }

    /// This kind with a further check on the decoded value.
    public func checked(_ check: @escaping @Sendable (Value, SettingPlace) throws -> Void) -> SettingKind {
        let decode = self.decode
        return SettingKind(decode: { text, place in
            let value = try decode(text, place)
            try check(value, place)
            return value
        }, encode: encode)
    }
}

extension SettingKind where Value == Bool {
    public static var bool: Self {
        Self(decode: { text, place in
            switch text {
            case "true": return true
            case "false": return false
            default: throw place.error("must be true or false")
            }
        }, encode: { "\($0)" })
    }
}

extension SettingKind where Value: FixedWidthInteger & Sendable {
    /// An integer in `range`; `_` may separate digits (`1_048_576`).
    public static func integer(_ range: ClosedRange<Value>) -> Self {
        Self(decode: { text, place in
            guard let number = Value(text.replacingOccurrences(of: "_", with: "")), range.contains(number) else {
                throw place.error("must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }, encode: { "\($0)" })
    }
}

extension SettingKind where Value == Double {
    /// Whole seconds in `range`, held as a Double for the backoff arithmetic.
    public static func seconds(_ range: ClosedRange<Int>) -> Self {
        let whole = SettingKind<Int>.integer(range)
        return Self(decode: { Double(try whole.decode($0, $1)) }, encode: { Int(exactly: $0).map(whole.encode) ?? "\($0)" })
    }
}

extension SettingKind where Value == String {
    /// `"…"`, without escapes: the files name paths, hosts and titles, which need none.
    public static var string: Self {
        Self(decode: { text, place in
            guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { throw place.error("must be a quoted string") }
            let inner = text.dropFirst().dropLast()
            guard !inner.contains("\"") && !inner.contains("\\") else {
                throw place.error(detail: "escapes and quotes inside strings are not supported")
            }
            return String(inner)
        }, encode: { "\"\($0)\"" })
    }

    /// An absolute path: the service runs from `/`, so a relative one would silently mean something else.
    public static var path: Self {
        string.checked { path, place in
            guard path.hasPrefix("/") else { throw place.error(detail: "\"\(path)\" is not an absolute path") }
        }
    }

    public static var uid: Self {
        string.checked { uid, place in
            guard UID.isValid(uid) else { throw place.error(detail: "\"\(uid)\" is not a UID") }
        }
    }

    /// One of `choices`; the error lists them (`"keep", "drop" or "reject"`).
    public static func oneOf(_ choices: String...) -> Self {
        let quoted = choices.map { "\"\($0)\"" }
        let listed = quoted.count > 1 ? quoted.dropLast().joined(separator: ", ") + " or " + quoted[quoted.count - 1] : quoted.joined()
        return string.checked { choice, place in
            guard choices.contains(choice) else { throw place.error("must be \(listed)") }
        }
    }

    public static var aeTitle: Self {
        string.checked { title, place in
            guard AETitle.isValid(title) else { throw place.error("must be 1-16 characters, no backslash or control characters") }
        }
    }

    public static var icapURL: Self {
        string.checked { url, place in
            guard ICAPAddress(url) != nil else { throw place.error("must look like icap://HOST[:PORT]/SERVICE") }
        }
    }
}

extension SettingKind where Value == [String] {
    /// `["a", "b"]`, a trailing comma allowed; each entry is read as `item`.
    public static func list(of item: SettingKind<String>) -> Self {
        Self(decode: { text, place in
            guard text.hasPrefix("["), text.hasSuffix("]") else { throw place.error("must be an array of quoted strings") }
            var entries = splitOutsideQuotes(text.dropFirst().dropLast()).map { $0.trimmingCharacters(in: .whitespaces) }
            if entries.last?.isEmpty == true { entries.removeLast() }
            return try entries.map { entry in
                guard !entry.isEmpty else { throw place.error("has an empty entry") }
                return try item.decode(entry, place)
            }
        }, encode: { "[" + $0.map(item.encode).joined(separator: ", ") + "]" })
    }

    public static var strings: Self { list(of: .string) }
    public static var paths: Self { list(of: .path) }
    public static var uids: Self { list(of: .uid) }

    /// Commas inside quotes belong to the entry (a private creator may contain one).
    private static func splitOutsideQuotes(_ text: Substring) -> [Substring] {
        var entries: [Substring] = []
        var start = text.startIndex
        var quoted = false
        for index in text.indices {
            if text[index] == "\"" { quoted.toggle() }
            if text[index] == "," && !quoted {
                entries.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        entries.append(text[start...])
        return entries
    }
}
