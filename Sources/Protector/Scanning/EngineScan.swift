import DICOMCore
import SessionReport

/// Runs every engine over every part and once over the whole original file (issue 3, part 3).
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
    }

    func run(parts: [Part], source: any ByteSource) -> Result {
        var result = Result(scannedBy: engines.map(\.name))
        guard !engines.isEmpty else { return result }
        let units = EngineScan.units(parts)
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
                    result.hits.append(Hit(engine: engine.name, signature: name, parts: inParts.isEmpty ? unit.members : inParts))
                    foundInParts.insert(name)
                }
            }
            guard !failed, let whole = scan(ScanContent(source, label: "the whole original file")) else { continue }
            for name in whole where !foundInParts.contains(name) {
                result.hits.append(Hit(engine: engine.name, signature: name, parts: []))
            }
        }
        return result
    }

    private func content(of unit: Unit, _ parts: [Part], _ source: any ByteSource) -> ScanContent {
        if unit.members.count == 1 {
            let part = parts[unit.members[0]]
            return ScanContent(part.bytes, source: source, label: part.location)
        }
        var joined: [UInt8] = []
        for member in unit.members {
            if case let .inline(bytes) = parts[member].bytes { joined += bytes }
        }
        return ScanContent(joined, label: unit.label)
    }

    /// Small inline element values grouped by public/private creator; everything else alone.
    private static func units(_ parts: [Part]) -> [Unit] {
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
                if part.bytes.length > 0 { units.append(Unit(label: part.location, members: [index])) }
                continue
            }
            if groups[group] == nil { order.append(group) }
            groups[group, default: []].append(index)
        }
        return units + order.map { Unit(label: $0, members: groups[$0]!) }
    }
}
