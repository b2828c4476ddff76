/// The standard data dictionary (PS3.6), generated from DCMTK's dicom.dic by GenerateDictionary.
public struct DictionaryEntry: Sendable, Equatable {
    /// Allowed VRs, most usual first (e.g. [OB, OW] for Pixel Data); empty for item delimiters.
    public let vrs: [VR]
    public let keyword: String
    public let vm: String

    public var vr: VR? { vrs.first }
}

public enum DataDictionary {
    private struct Ranged: Sendable {
        let groups: ClosedRange<UInt16>, elements: ClosedRange<UInt16>, entry: DictionaryEntry
    }

    private struct Tables: Sendable {
        var exact: [UInt32: DictionaryEntry] = [:]
        var ranged: [Ranged] = []
        var byKeyword: [String: Tag] = [:]
    }

    /// Parsed once, on first use.
    private static let tables: Tables = {
        var tables = Tables()
        for line in table.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: false)
            guard f.count == 7, let g0 = UInt16(f[0], radix: 16), let g1 = UInt16(f[1], radix: 16),
                  let e0 = UInt16(f[2], radix: 16), let e1 = UInt16(f[3], radix: 16) else { continue }
            let vrs = f[4].split(separator: "/").compactMap { VR(rawValue: String($0)) }
            let entry = DictionaryEntry(vrs: vrs, keyword: String(f[5]), vm: String(f[6]))
            if g0 == g1 && e0 == e1 {
                tables.exact[UInt32(g0) << 16 | UInt32(e0)] = entry
                tables.byKeyword[entry.keyword] = Tag(g0, e0)
            } else {
                tables.ranged.append(Ranged(groups: g0...g1, elements: e0...e1, entry: entry))
            }
        }
        return tables
    }()

    public static func entry(for tag: Tag) -> DictionaryEntry? {
        if let entry = tables.exact[tag.rawValue] { return entry }
        // Repeating groups (50xx curves, 60xx overlays) use even groups only.
        return tables.ranged.first {
            $0.groups.contains(tag.group) && $0.elements.contains(tag.element)
                && ($0.groups.lowerBound == $0.groups.upperBound || tag.group & 1 == 0)
        }?.entry
    }

    public static func tag(forKeyword keyword: String) -> Tag? { tables.byKeyword[keyword] }
}
