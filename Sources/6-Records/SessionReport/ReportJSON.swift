import Foundation

/// The report as pretty-printed JSON with sorted keys, byte for byte what `JSONEncoder` writes,
/// encoded one file record at a time and written out as it goes: a disc of a thousand files
/// otherwise builds the encoder's tree of the whole report, or the whole text (growing by
/// doubling), just before the session ends, and that, not the disc, set the agent's peak memory.
public enum ReportJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func encode(_ report: Report) throws -> Data {
        var text = Data()
        try stream(report) { text.append(contentsOf: $0) }
        return text
    }

    /// Writes the report to `url` (as `Data.write(to:options: .atomic)`), holding one record's text at a time.
    public static func write(_ report: Report, to url: URL) throws {
        try replace(url) { handle in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 16)
            try stream(report) { bytes in
                buffer.append(contentsOf: bytes)
                if buffer.count >= 1 << 16 {
                    try handle.write(contentsOf: buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try handle.write(contentsOf: buffer)
        }
    }

    /// Writes `url` through a temporary file beside it, renamed into place once complete: a
    /// reader never sees half a report.
    public static func replace(_ url: URL, writing body: (FileHandle) throws -> Void) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8))")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try body(handle)
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path,
                                                              NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// The report's text, piece by piece in order.
    public static func stream(_ report: Report, _ sink: (ArraySlice<UInt8>) throws -> Void) throws {
        let encoder = encoder()
        guard !report.files.isEmpty else { return try sink(ArraySlice(try encoder.encode(report))) }
        var shell = report
        shell.files = []
        let outline = [UInt8](try encoder.encode(shell))
        // Where the empty list stands: the records go there, each indented to its depth.
        guard let empty = ["\"files\" : [\n\n  ]", "\"files\" : [\n  ]", "\"files\" : []"].lazy
                .compactMap({ outline.firstRange(of: Array($0.utf8)) }).first else { return try sink(ArraySlice(try encoder.encode(report))) }
        try sink(outline[..<empty.lowerBound])
        try sink(ArraySlice("\"files\" : [\n".utf8))
        let indent: [UInt8] = [0x20, 0x20, 0x20, 0x20], newline: [UInt8] = [0x0A]
        for (index, file) in report.files.enumerated() {
            let record = [UInt8](try encoder.encode(file))
            // JSON strings never hold a raw newline: every line break is the layout's (the empty
            // line inside an empty list stays empty).
            for line in record.split(separator: 0x0A, omittingEmptySubsequences: false) {
                if line.startIndex > 0 { try sink(newline[...]) }
                if !line.isEmpty { try sink(indent[...]) }
                try sink(line)
            }
            try sink(ArraySlice((index == report.files.count - 1 ? "\n  ]" : ",\n").utf8))
        }
        try sink(outline[empty.upperBound...])
    }
}
