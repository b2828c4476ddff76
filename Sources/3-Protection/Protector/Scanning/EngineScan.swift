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
/// Small values are scanned together, joined in one buffer: a signature inside one value still
/// matches, and a vendor header with hundreds of short values costs one scan, not hundreds (each
/// scan has a fixed cost: a round trip to the agent, libclamav's context and temporary directory).
/// A small value that starts like a binary file type (`ScanPlan.startsLikeABinaryFile`) is
/// scanned alone, so that signatures anchored at its start see it there. The preamble is the
/// whole file's first bytes: the whole-file scan sees it in place, typed as it would be alone, so
/// it is scanned alone only to say which part a match of the whole is in. When
/// the joined values match, each is scanned alone to find the culprit; if none matches alone (a
/// signature spanning values), every member is treated as infected.
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
        /// Not scanned alone unless the whole file matches: the part is the whole file's start
        /// (the preamble), so the whole-file scan sees it at the same offset, as the same type.
        var atStart = false
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
            for unit in units where !failed && !unit.atStart {
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
            // The whole file matched: every part seen only by its start (or only in the whole file) is
            // scanned whole, even for a signature already found elsewhere (it may be in a second part too).
            for unit in units where (unit.head || unit.atStart) && !failed {
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

    /// Small inline values joined; everything else alone, large ranges of the original by their
    /// start when `ScanPlan` allows.
    private static func units(_ parts: [Part], _ source: any ByteSource) -> [Unit] {
        var units: [Unit] = []
        var small: [Int] = []
        for (index, part) in parts.enumerated() where part.bytes.length > 0 {
            if case let .inline(bytes) = part.bytes, bytes.count <= groupLimit, part.kind != .preamble, part.kind != .document,
               !ScanPlan.startsLikeABinaryFile(bytes.prefix(ScanPlan.sniffBytes)) {
                small.append(index)
            } else if part.kind == .preamble, case let .inline(bytes) = part.bytes,
                      (try? source.read(at: 0, count: bytes.count)) == bytes {
                units.append(Unit(label: part.location, members: [index], atStart: true))
            } else {
                units.append(Unit(label: part.location, members: [index], head: ScanPlan.headSuffices(part, source)))
            }
        }
        if small.count == 1 { return units + [Unit(label: parts[small[0]].location, members: small)] }
        return units + (small.isEmpty ? [] : [Unit(label: "the small values (\(small.count))", members: small)])
    }
}
