import Foundation

/// The configuration file format both products read: a TOML subset (tables, `key = value` with strings,
/// integers, booleans and arrays of strings — arrays may span lines — and `#` comments). Unknown tables or
/// keys are errors that name the key and the line, so a typo in a hospital's config never silently falls
/// back to a default.
public enum ConfigurationFile {
    /// The file's text: at most 1 MiB of UTF-8.
    public static func read(_ url: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Configuration.Error(line: 0, message: "cannot read the file (\(error.localizedDescription))")
        }
        guard data.count <= 1 << 20 else { throw Configuration.Error(line: 0, message: "file larger than 1 MiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw Configuration.Error(line: 0, message: "not UTF-8 text") }
        return text
    }

    /// `settings` by table, then key. A key listed twice keeps its first entry: the products' tests refuse
    /// duplicates, and a trap here would take a service down over a table typo.
    public static func index<Root>(_ settings: [ConfigSetting<Root>]) -> [String: [String: ConfigSetting<Root>]] {
        Dictionary(grouping: settings, by: \.table)
            .mapValues { Dictionary($0.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first }) }
    }

    /// Applies every `key = value` of `text` to `root` through `settings` (by table, then key).
    public static func parse<Root>(_ text: String, settings: [String: [String: ConfigSetting<Root>]], into root: inout Root) throws {
        var table = ""
        var seen = Set<String>()
        // An array value that continues on the next lines: its setting, the text so far and its first line.
        var open: (setting: ConfigSetting<Root>, text: String, line: Int)?
        // A byte-order mark from a Windows editor would otherwise become part of the first key.
        let body = text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
        // LF or CRLF: a CRLF is one Character, so splitting on "\n" alone would make the file one line.
        for (index, rawLine) in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = index + 1
            if let control = rawLine.unicodeScalars.first(where: { $0.properties.generalCategory == .control && $0 != "\t" }) {
                let hex = String(control.value, radix: 16, uppercase: true)
                throw Configuration.Error(line: line, message: "control character U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex) (only tab is allowed)")
            }
            let content = stripComment(rawLine).trimmingCharacters(in: .whitespaces)
            if let pending = open {
                let joined = pending.text + " " + content
                if content.hasSuffix("]") {
                    try pending.setting.apply(joined, line: pending.line, to: &root)
                    open = nil
                } else {
                    open = (pending.setting, joined, pending.line)
                }
                continue
            }
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                let name = content.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                guard content.hasSuffix("]"), !name.isEmpty else { throw Configuration.Error(line: line, message: "malformed table header") }
                guard settings[name] != nil else { throw Configuration.Error(line: line, message: "unknown table [\(name)]") }
                table = name
                continue
            }
            guard let equals = content.firstIndex(of: "=") else { throw Configuration.Error(line: line, message: "expected key = value") }
            let key = content[..<equals].trimmingCharacters(in: .whitespaces)
            let value = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw Configuration.Error(line: line, message: "expected key = value (no key before =)") }
            let qualified = table.isEmpty ? key : "\(table).\(key)"
            guard let setting = settings[table]?[key] else { throw Configuration.Error(line: line, message: "unknown key \(qualified)") }
            guard seen.insert(qualified).inserted else { throw Configuration.Error(line: line, message: "\(qualified) set twice") }
            if value.hasPrefix("[") && !value.hasSuffix("]") {
                open = (setting, value, line)
                continue
            }
            try setting.apply(value, line: line, to: &root)
        }
        if let open { throw Configuration.Error(line: open.line, message: "\(open.setting.name): the array is not closed with ]") }
    }

    /// Drops a `#` comment that is not inside a quoted string.
    private static func stripComment(_ line: Substring) -> Substring {
        var quoted = false
        for index in line.indices {
            if line[index] == "\"" { quoted.toggle() }
            if line[index] == "#" && !quoted { return line[..<index] }
        }
        return line
    }
}
