import Foundation

/// The report as pretty-printed JSON with sorted keys, byte for byte what `JSONEncoder` writes,
/// encoded one file record at a time: a disc of a thousand files otherwise builds the encoder's
/// tree of the whole report (several times the size of the text) just before the session ends,
/// and that, not the disc, set the agent's peak memory.
public enum ReportJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func encode(_ report: Report) throws -> Data {
        let encoder = encoder()
        guard !report.files.isEmpty else { return try encoder.encode(report) }
        var shell = report
        shell.files = []
        let outline = try encoder.encode(shell)
        // Where the empty list stands: the records go there, each indented to its depth.
        guard let empty = ["\"files\" : [\n\n  ]", "\"files\" : [\n  ]", "\"files\" : []"].lazy
                .compactMap({ outline.range(of: Data($0.utf8)) }).first else { return try encoder.encode(report) }
        var text = Data(outline[..<empty.lowerBound])
        text.append(contentsOf: Array("\"files\" : [\n".utf8))
        for (index, file) in report.files.enumerated() {
            let record = [UInt8](try encoder.encode(file))
            // JSON strings never hold a raw newline: every line break is the layout's (the empty
            // line inside an empty list stays empty).
            for line in record.split(separator: 0x0A, omittingEmptySubsequences: false) {
                if line.startIndex > 0 { text.append(0x0A) }
                if !line.isEmpty { text.append(contentsOf: [0x20, 0x20, 0x20, 0x20]) }
                text.append(contentsOf: line)
            }
            text.append(contentsOf: Array((index == report.files.count - 1 ? "\n  ]" : ",\n").utf8))
        }
        text.append(outline[empty.upperBound...])
        return text
    }
}
