import DICOMCore
import SessionReport

/// Runs every engine over the whole original file once and over every part as a file of its own
/// (issue 3, part 3), without scanning the bulk of the file twice.
///
/// The whole original holds every byte of every part that is a range of it, in place: an
/// unanchored signature anywhere in such a part, or spanning parts, matches there. What only a
/// scan of the part alone can see is scanned alone (`ScanPlan`): signatures anchored at the
/// start of a part (its first `ScanPlan.headBytes`), the part as the file type it starts as
/// (a program, archive, document, image or text, with ClamAV's type-specific signatures), every
/// part that is not a range of the original (inflated values), documents, and every part up to
/// `ScanPlan.headBytes`. When the whole file matches, the parts seen only by their start are
/// scanned whole, one by one, to say which carries it (the rare path); what no part carries
/// alone spans parts and is left to `RebuildVerification`.
///
/// Small values are scanned in groups (all small public values together, the small values of each
/// private creator together): a signature inside one value still matches, and a file with
/// hundreds of short text elements costs a few scans, not hundreds. When a group matches, its
/// members are scanned one by one to find the culprit; if none matches alone (a signature spanning
/// values), every member is treated as infected.
struct EngineScan {
    let engines: [any MalwareEngine]
    /// Values up to this size are grouped.
    static let groupLimit: Int64 = 4096

    struct Hit: Equatable {
        let engine: String
        let signature: String
        /// The parts it was found in; empty when only the whole file matched.
        let parts: [Int]
    }

    struct Failure: Equatable {
        let engine: String
        let reason: String
    }

    struct Result {
        var hits: [Hit] = []
        var failures: [Failure] = []
        /// Engine names that scanned each part (for the per-part map).
        var scannedBy: [String] = []
    }

    private struct Unit {
        let label: String
        let members: [Int]
        /// Only the part's first `ScanPlan.headBytes` alone; the rest is in the whole-file scan.
        var head = false
    }

    func run(parts: [Part], source: any ByteSource) -> Result {
        var result = Result(scannedBy: engines.map(\.name))
        guard !engines.isEmpty else { return result }
        let units = EngineScan.units(parts, source)
        for engine in engines {
            var failed = false
            func scan(_ content: ScanContent) -> [String]? {
                do { return try engine.scan(content) } catch {
                    if !failed {
                        result.failures.append(Failure(engine: engine.name, reason: "\(error) while scanning \(content.label)"))
                    }
                    failed = true
                    return nil
                }
            }
            var foundInParts = Set<String>()
            func found(_ names: [String], in members: [Int]) {
                for name in names {
                    result.hits.append(Hit(engine: engine.name, signature: name, parts: members))
                    foundInParts.insert(name)
                }
            }
            for unit in units where !failed {
                guard let names = scan(content(of: unit, parts, source)), !names.isEmpty else { continue }
                var located: [Int: [String]] = [:]
                if unit.members.count > 1 {
                    for member in unit.members where !failed {
                        if let alone = scan(ScanContent(parts[member].bytes, source: source, label: parts[member].location)), !alone.isEmpty {
                            located[member] = alone
                        }
                    }
                }
                for name in names {
                    let inParts = located.filter { $0.value.contains(name) }.map(\.key).sorted()
                    found([name], in: inParts.isEmpty ? unit.members : inParts)
                }
            }
            guard !failed, let whole = scan(ScanContent(source, label: "the whole original file")), !whole.isEmpty else { continue }
            // The whole file matched: every part seen only by its start is scanned whole, even for a
            // signature already found elsewhere (the same signature may be in a second part too).
            for unit in units where unit.head && !failed {
                let member = unit.members[0]
                guard let names = scan(ScanContent(parts[member].bytes, source: source, label: parts[member].location)) else { break }
                let known = Set(result.hits.filter { $0.engine == engine.name && $0.parts == [member] }.map(\.signature))
                found(names.filter { !known.contains($0) }, in: [member])
            }
            guard !failed else { continue }
            for name in whole where !foundInParts.contains(name) {
                result.hits.append(Hit(engine: engine.name, signature: name, parts: []))
            }
        }
        return result
    }

    private func content(of unit: Unit, _ parts: [Part], _ source: any ByteSource) -> ScanContent {
        if unit.members.count == 1 {
            let part = parts[unit.members[0]]
            guard unit.head, case let .deferred(offset, _) = part.bytes else {
                return ScanContent(part.bytes, source: source, label: part.location)
            }
            return ScanContent(source, offset: offset, length: ScanPlan.headBytes, label: part.location)
        }
        var joined: [UInt8] = []
        for member in unit.members {
            if case let .inline(bytes) = parts[member].bytes { joined += bytes }
        }
        return ScanContent(joined, label: unit.label)
    }

    /// Small inline element values grouped by public/private creator; everything else alone,
    /// large ranges of the original by their start when `ScanPlan` allows.
    private static func units(_ parts: [Part], _ source: any ByteSource) -> [Unit] {
        var units: [Unit] = []
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (index, part) in parts.enumerated() {
            let group: String? = switch part.kind {
            case .element where part.bytes.length <= groupLimit: "public elements"
            case let .privateBlock(creator) where part.bytes.length <= groupLimit: "private block \"\(creator)\""
            default: nil
            }
            guard case .inline = part.bytes, let group else {
                if part.bytes.length > 0 {
                    units.append(Unit(label: part.location, members: [index], head: ScanPlan.headSuffices(part, source)))
                }
                continue
            }
            if groups[group] == nil { order.append(group) }
            groups[group, default: []].append(index)
        }
        return units + order.map { Unit(label: $0, members: groups[$0]!) }
    }
}
