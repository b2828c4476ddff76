import Foundation

/// The agent's configuration file: a TOML subset (tables, `key = value` with strings, integers and
/// booleans, `#` comments). Unknown tables or keys are errors that name the key and the line, so a
/// typo in a hospital's config never silently falls back to a default.
struct Configuration: Equatable {
    /// Bounds on the media walk.
    var maxDirectoryDepth = 32
    var maxEntries = 200_000
    var maxTotalBytes: Int64 = 64 << 30
    var maxFileSize: Int64 = 8 << 30
    /// Bounds on each DICOM file.
    var maxNestingDepth = 64
    var maxElements = 1_000_000
    /// Files up to this size are read into memory whole; larger ones stream from the media.
    var inMemoryFileLimit: Int64 = 64 << 20
    /// Parallel Protector workers; 0 = one per core.
    var workers = 0
    /// Default destination when `--destination` is not given (`archive:` = under the state directory).
    var destination: String?

    struct Error: Swift.Error, CustomStringConvertible, Equatable {
        let line: Int
        let message: String
        var description: String { "line \(line): \(message)" }
    }

    init() {}

    init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Error(line: 0, message: "cannot read the file (\(error.localizedDescription))")
        }
        guard data.count <= 1 << 20 else { throw Error(line: 0, message: "file larger than 1 MiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw Error(line: 0, message: "not UTF-8 text") }
        try self.init(parsing: text)
    }

    init(parsing text: String) throws {
        var table = ""
        var seen = Set<String>()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let content = Configuration.stripComment(rawLine).trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                guard content.hasSuffix("]"), content.count > 2 else { throw Error(line: line, message: "malformed table header") }
                table = String(content.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard Configuration.keys[table] != nil else { throw Error(line: line, message: "unknown table [\(table)]") }
                continue
            }
            guard let equals = content.firstIndex(of: "=") else { throw Error(line: line, message: "expected key = value") }
            let key = content[..<equals].trimmingCharacters(in: .whitespaces)
            let value = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let qualified = table.isEmpty ? key : "\(table).\(key)"
            guard Configuration.keys[table]?.contains(key) == true else {
                throw Error(line: line, message: "unknown key \(qualified)")
            }
            guard seen.insert(qualified).inserted else { throw Error(line: line, message: "\(qualified) set twice") }
            try apply(qualified, value, line: line)
        }
    }

    private static let keys: [String: Set<String>] = [
        "": ["destination"],
        "limits": ["max_directory_depth", "max_entries", "max_total_bytes", "max_file_size",
                   "max_nesting_depth", "max_elements", "in_memory_file_limit"],
        "ingest": ["workers"],
    ]

    private mutating func apply(_ key: String, _ value: String, line: Int) throws {
        func integer(_ range: ClosedRange<Int64>) throws -> Int64 {
            guard let number = Int64(value.replacingOccurrences(of: "_", with: "")), range.contains(number) else {
                throw Error(line: line, message: "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        switch key {
        case "destination": destination = try Configuration.string(value, key: key, line: line)
        case "limits.max_directory_depth": maxDirectoryDepth = Int(try integer(1...256))
        case "limits.max_entries": maxEntries = Int(try integer(1...10_000_000))
        case "limits.max_total_bytes": maxTotalBytes = try integer(1...(1 << 44))
        case "limits.max_file_size": maxFileSize = try integer(1...(1 << 40))
        case "limits.max_nesting_depth": maxNestingDepth = Int(try integer(1...1024))
        case "limits.max_elements": maxElements = Int(try integer(1...100_000_000))
        case "limits.in_memory_file_limit": inMemoryFileLimit = try integer((1 << 20)...(1 << 30))
        case "ingest.workers": workers = Int(try integer(0...64))
        default: throw Error(line: line, message: "unknown key \(key)")
        }
    }

    private static func string(_ value: String, key: String, line: Int) throws -> String {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else {
            throw Error(line: line, message: "\(key) must be a quoted string")
        }
        let inner = value.dropFirst().dropLast()
        guard !inner.contains("\"") && !inner.contains("\\") else {
            throw Error(line: line, message: "\(key): escapes and quotes inside strings are not supported")
        }
        return String(inner)
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
