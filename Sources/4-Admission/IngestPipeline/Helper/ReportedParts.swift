import SessionReport

/// The parts an `ingest` report lists for one file: those the rebuild did something with, with a
/// private block that the policy removed as routine (no finding of its own on any element) as one
/// entry, `(gggg,bbxx)`, instead of one per element. A vendor header has hundreds of private
/// elements; listed one by one on every slice of a disc they made the report, and the agent's
/// memory while it holds it, grow by tens of kilobytes per file. `inspect` still shows every part.
public enum ReportedParts {
    public static func of(_ parts: [PartRecord]) -> [PartRecord] {
        var listed: [PartRecord] = []
        var blocks: [String: Int] = [:]
        for part in parts where part.action != .kept {
            guard part.action == .removed, part.findings.isEmpty, part.part.hasPrefix("private block"),
                  let block = block(of: part.location) else {
                listed.append(part)
                continue
            }
            let key = part.part + block
            if let index = blocks[key] {
                listed[index].size += part.size
                listed[index].checks += part.checks.filter { !listed[index].checks.contains($0) }
            } else {
                blocks[key] = listed.count
                listed.append(PartRecord(part: part.part, location: block, size: part.size, checks: part.checks,
                                         action: .removed, findings: []))
            }
        }
        return listed
    }

    /// `(0019,10xx)` for block 10 of group 0019: its creator (0019,0010) and its elements
    /// (0019,1000–10FF), however deep below them; nil for a location that starts with no private tag.
    public static func block(of location: String) -> String? {
        let text = Array(location.utf8)
        guard text.count >= 11, text[0] == UInt8(ascii: "("), text[5] == UInt8(ascii: ","), text[10] == UInt8(ascii: ")"),
              let group = UInt16(String(decoding: text[1..<5], as: UTF8.self), radix: 16),
              let element = UInt16(String(decoding: text[6..<10], as: UTF8.self), radix: 16),
              group & 1 == 1, element >= 0x0010 else { return nil }
        let block = element >= 0x1000 ? element >> 8 : element
        guard block <= 0xFF else { return nil }
        let hex = String(block, radix: 16, uppercase: true)
        return "(" + String(decoding: text[1..<5], as: UTF8.self) + "," + (block < 0x10 ? "0" : "") + hex + "xx)"
    }
}
