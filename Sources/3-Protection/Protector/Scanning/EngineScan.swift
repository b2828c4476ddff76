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

    /// Every engine looks at each content in the same step, so engines behind one channel (the
    /// helper's pipe, the scanner process) get the content once for all of them (`JointEngine`).
    /// Each engine's hits and first failure are kept apart, in engine order, as when each engine
    /// went through the file alone.
    func run(parts: [Part], source: any ByteSource) -> Result {
        var result = Result(scannedBy: engines.map(\.name))
        guard !engines.isEmpty else { return result }
        let units = EngineScan.units(parts, source)
        let all = Array(engines.indices)
        var failures = [Failure?](repeating: nil, count: engines.count)
        var hits = [[Hit]](repeating: [], count: engines.count)
        var foundInParts = [Set<String>](repeating: [], count: engines.count)
        func live(_ among: [Int]) -> [Int] { among.filter { failures[$0] == nil } }
        /// The names from each engine of `among` (still answering) that answered.
        func scan(_ content: ScanContent, _ among: [Int]) -> [Int: [String]] {
            let asked = live(among)
            guard !asked.isEmpty else { return [:] }
            var names: [Int: [String]] = [:]
            let outcomes = scanAll(content, asked)
            for engine in asked {
                switch outcomes[engine] ?? .failure(MissingAnswer()) {
                case let .success(answer): names[engine] = answer
                case let .failure(error):
                    failures[engine] = Failure(engine: engines[engine].name, reason: "\(error) while scanning \(content.label)")
                }
            }
            return names
        }
        func found(_ engine: Int, _ names: [String], in members: [Int]) {
            for name in names {
                hits[engine].append(Hit(engine: engines[engine].name, signature: name, parts: members))
                foundInParts[engine].insert(name)
            }
        }
        func matching(_ answers: [Int: [String]]) -> [Int] { answers.filter { !$0.value.isEmpty }.keys.sorted() }
        for unit in units where !unit.atStart {
            let answers = scan(content(of: unit, parts, source), all)
            let matched = matching(answers)
            guard !matched.isEmpty else { continue }
            var located: [Int: [Int: [String]]] = [:]
            if unit.members.count > 1 {
                for member in unit.members {
                    for (engine, alone) in scan(ScanContent(parts[member].bytes, source: source, label: parts[member].location), matched)
                    where !alone.isEmpty {
                        located[engine, default: [:]][member] = alone
                    }
                }
            }
            for engine in matched {
                for name in answers[engine] ?? [] {
                    let inParts = (located[engine] ?? [:]).filter { $0.value.contains(name) }.map(\.key).sorted()
                    found(engine, [name], in: inParts.isEmpty ? unit.members : inParts)
                }
            }
        }
        let whole = scan(ScanContent(source, label: "the whole original file"), all)
        let wholeMatched = matching(whole)
        if !wholeMatched.isEmpty {
            // The whole file matched: every part seen only by its start (or only in the whole file) is
            // scanned whole, even for a signature already found elsewhere (it may be in a second part too).
            for unit in units where unit.head || unit.atStart {
                guard !live(wholeMatched).isEmpty else { break }
                let member = unit.members[0]
                let answers = scan(ScanContent(parts[member].bytes, source: source, label: parts[member].location), wholeMatched)
                for engine in answers.keys.sorted() {
                    let known = Set(hits[engine].filter { $0.parts == [member] }.map(\.signature))
                    found(engine, (answers[engine] ?? []).filter { !known.contains($0) }, in: [member])
                }
            }
            for engine in live(wholeMatched) {
                for name in whole[engine] ?? [] where !foundInParts[engine].contains(name) {
                    hits[engine].append(Hit(engine: engines[engine].name, signature: name, parts: []))
                }
            }
        }
        result.hits = hits.flatMap { $0 }
        result.failures = failures.compactMap { $0 }
        return result
    }

    private struct MissingAnswer: Error, CustomStringConvertible {
        var description: String { "no answer from the engine" }
    }

    /// Asks the engines numbered `asked`: those on one channel together, the others one by one.
    private func scanAll(_ content: ScanContent, _ asked: [Int]) -> [Int: Swift.Result<[String], any Error>] {
        var outcomes: [Int: Swift.Result<[String], any Error>] = [:]
        var channels: [(channel: ObjectIdentifier, members: [Int])] = []
        for engine in asked {
            guard let joint = engines[engine] as? any JointEngine else {
                outcomes[engine] = Swift.Result { try engines[engine].scan(content) }
                continue
            }
            if let at = channels.firstIndex(where: { $0.channel == joint.channel }) {
                channels[at].members.append(engine)
            } else {
                channels.append((joint.channel, [engine]))
            }
        }
        for (_, members) in channels {
            let joints = members.map { engines[$0] as! any JointEngine }
            for (engine, outcome) in zip(members, joints[0].scan(content, engines: joints.map(\.index))) { outcomes[engine] = outcome }
        }
        return outcomes
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
