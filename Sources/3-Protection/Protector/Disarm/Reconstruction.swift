import DICOMCore
import SessionReport

/// Content disarm and reconstruction (issue 3, part 4): turns the observations into the rebuilt
/// model and the per-part map. Elements are removed, values cut short or offset tables emptied
/// only where an observation asks; a threat in a part the image cannot do without rejects the file.
struct Reconstruction {
    let file: DICOMFile
    let parts: [Part]
    var observations: [Observation]
    let silentRemovals: [ElementPath]
    let engines: [String]

    private(set) var rebuilt: DICOMFile
    private(set) var rejected = false
    /// Left out of delivery by policy, not rejected (`Observation.Remedy.leaveOut`).
    private(set) var leftOut = false
    private(set) var neutralised = false
    private(set) var findings: [Finding] = []
    private(set) var partRecords: [PartRecord] = []

    /// Meta elements a rebuilt file keeps besides those the writer sets; (0002,0100) and
    /// (0002,0102), private information of any length, are not among them.
    static let keptMeta: Set<Tag> = [Tag.sourceApplicationEntityTitle, Tag.sendingApplicationEntityTitle, Tag.receivingApplicationEntityTitle]
    /// The waveform storage classes (PS3.4 B.5: 1.2.840.10008.5.1.4.1.1.9.x.y).
    static let waveformClasses = "1.2.840.10008.5.1.4.1.1.9."

    init(file: DICOMFile, parts: [Part], observations: [Observation], silentRemovals: [ElementPath], engines: [String]) {
        self.file = file; self.parts = parts; self.observations = observations
        self.silentRemovals = silentRemovals; self.engines = engines
        rebuilt = file
    }

    mutating func apply() {
        var removals = Set(silentRemovals)
        var removedBecause: [ElementPath: [FindingCode]] = [:]
        var truncations: [ElementPath: Int64] = [:]
        var emptiedTables = Set<ElementPath>()
        var cuts: [ElementPath: CodestreamCut] = [:]
        var rejectingParts = Set<Int>()
        var replacedParts = Set<Int>()

        for (index, observation) in observations.enumerated() {
            switch observation.remedy {
            case .none: break
            case .replacedByRebuild:
                neutralised = true
                if let part = observation.part { replacedParts.insert(part) }
            case .reject:
                rejected = true
                if let part = observation.part { rejectingParts.insert(part) }
            case .leaveOut:
                leftOut = true
                if let part = observation.part { rejectingParts.insert(part) }
            case let .removeElement(path):
                if StructureCheck.essential.contains(path.tag) && path.steps.isEmpty {
                    rejected = true
                } else {
                    removals.insert(path)
                    removedBecause[path, default: []].append(observation.finding.code)
                }
            case let .truncate(path, length):
                truncations[path] = min(truncations[path] ?? length, length)
            case let .emptyOffsetTable(path):
                emptiedTables.insert(path)
            case let .cutCodestreams(path, cut):
                cuts[path] = cut
            case .removePart:
                guard let part = observation.part else { rejected = true; continue }
                switch removal(for: parts[part]) {
                case .outside: replacedParts.insert(part)
                case let .element(path):
                    removals.insert(path)
                    removedBecause[path, default: []].append(observation.finding.code)
                case let .elements(paths):
                    for path in paths {
                        removals.insert(path)
                        removedBecause[path, default: []].append(observation.finding.code)
                    }
                case .essential:
                    rejected = true
                    rejectingParts.insert(part)
                    observations[index] = Observation(Finding(observation.finding.code, observation.finding.severity,
                        observation.finding.detail + "; the image cannot do without this part, so the file is rejected",
                        element: observation.finding.element), part: part, remedy: .reject)
                }
            }
        }
        findings = observations.map(\.finding)
        guard !rejected && !leftOut else {
            partRecords = records(removed: [], truncated: [:], emptied: [], cuts: [:], rejecting: rejectingParts, replaced: replacedParts)
            return
        }

        rebuilt.preamble = nil
        rebuilt.trailingBytes = nil
        for tag in rebuilt.meta.elements.map(\.tag) where tag.element > 0x0013 && !Reconstruction.keptMeta.contains(tag) {
            rebuilt.meta.remove(tag)
            if tag == Tag.privateInformation || tag == Tag.privateInformationCreatorUID {
                findings.append(Finding(.privateRemoved, .low, "File Meta private information removed", element: tag.description))
                neutralised = true
            }
        }
        // Deepest first, so removing an element never moves another removal's path; the root's
        // last and in one pass (a vendor's private blocks are hundreds of elements).
        for path in removals.filter({ !$0.steps.isEmpty }).sorted(by: { $0.steps.count > $1.steps.count }) {
            rebuilt.dataSet.modify(at: path) { $0.remove(path.tag) }
        }
        let rootRemovals = Set(removals.lazy.filter(\.steps.isEmpty).map(\.tag))
        if !rootRemovals.isEmpty { rebuilt.dataSet.removeAll { rootRemovals.contains($0.tag) } }
        for (path, length) in truncations where !removals.contains(path) {
            rebuilt.dataSet.modify(at: path) { dataSet in
                guard var element = dataSet[path.tag], case let .bytes(value) = element.value, value.length > length else { return }
                element.value = switch value {
                case let .inline(bytes): .bytes(.inline(Array(bytes.prefix(Int(length)))))
                case let .deferred(offset, _): .bytes(.deferred(offset: offset, length: length))
                }
                dataSet.set(element)
            }
        }
        for (path, cut) in cuts where !removals.contains(path) {
            rebuilt.dataSet.modify(at: path) { dataSet in
                guard var element = dataSet[path.tag], case let .fragments(table, fragments) = element.value else { return }
                element.value = Reconstruction.cutting(table, fragments, cut)
                dataSet.set(element)
            }
        }
        // After the cuts: an offset table found invalid is emptied, not rewritten.
        for path in emptiedTables where !removals.contains(path) {
            rebuilt.dataSet.modify(at: path) { dataSet in
                guard var element = dataSet[path.tag], case let .fragments(table, fragments) = element.value else { return }
                element.value = .fragments(offsetTable: Fragment(bytes: .inline([]), offset: table.offset), fragments: fragments)
                dataSet.set(element)
            }
        }
        neutralised = neutralised || !removals.isEmpty || !truncations.isEmpty || !emptiedTables.isEmpty || !cuts.isEmpty
        partRecords = records(removed: removals, truncated: truncations, emptied: emptiedTables, cuts: cuts, rejecting: [], replaced: replacedParts)
    }

    /// Encapsulated Pixel Data with only each frame's codestream: fragments shortened (the writer
    /// pads an odd length with 00) or left out, and a non-empty Basic Offset Table recomputed
    /// from the new item sizes (PS3.5 A.4: each frame's first item, from the first item on).
    static func cutting(_ table: Fragment, _ fragments: [Fragment], _ cut: CodestreamCut) -> Value {
        var kept: [Fragment] = []
        var position: [Int: Int64] = [:]
        var offset: Int64 = 0
        for (index, fragment) in fragments.enumerated() where !cut.dropped.contains(index) {
            var fragment = fragment
            if let length = cut.truncated[index] { fragment.bytes = Disassembler.slice(fragment.bytes, 0, length) }
            position[index] = offset
            offset += 8 + (fragment.bytes.length + 1) & ~1
            kept.append(fragment)
        }
        guard table.bytes.length > 0 else { return .fragments(offsetTable: table, fragments: kept) }
        var entries: [UInt8] = []
        for start in cut.frameStarts {
            let value = UInt32(truncatingIfNeeded: position[start] ?? 0)
            entries += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
        }
        return .fragments(offsetTable: Fragment(bytes: .inline(entries), offset: table.offset), fragments: kept)
    }

    private enum Removal {
        /// Never copied anyway: the preamble, the meta group, bytes after the data set, and
        /// excess pixel bytes that are cut off.
        case outside
        case element(ElementPath)
        /// Several elements that only mean something together (an overlay plane's group).
        case elements([ElementPath])
        /// Pixel data, the document of a document class, waveform samples: the image itself.
        case essential
    }

    private func removal(for part: Part) -> Removal {
        guard let path = part.path else { return .outside }
        switch part.kind {
        case .pixelFrame, .fragment, .offsetTable: return .essential
        case .waveform:
            // The samples are the object in a waveform storage class; elsewhere the Waveform
            // Sequence is optional and goes whole (an item without its samples is invalid).
            if (file.dataSet.string(Tag.sopClassUID) ?? "").hasPrefix(Reconstruction.waveformClasses) { return .essential }
            guard let holder = path.steps.last else { return .element(path) }
            return .element(ElementPath(steps: Array(path.steps.dropLast()), tag: holder.sequence))
        case .document:
            return DocumentCheck.isDocumentClass(file.dataSet.string(Tag.sopClassUID) ?? "") ? .essential : .element(path)
        case .icon:
            // The whole icon goes: an icon without its pixels is invalid.
            if let at = path.steps.firstIndex(where: { $0.sequence == Tag.iconImageSequence }) {
                return .element(ElementPath(steps: Array(path.steps[..<at]), tag: Tag.iconImageSequence))
            }
            return .element(path)
        case .trailing where part.tag == Tag.pixelData:
            // Bytes after the last frame or after a codestream's end go when they are cut; if they
            // are not cut, keep nothing.
            return observations.contains {
                switch $0.remedy {
                case .truncate(path, _), .cutCodestreams(path, _): true
                default: false
                }
            } ? .outside : .essential
        case .element:
            return path.steps.isEmpty && StructureCheck.essential.contains(path.tag) ? .essential : .element(path)
        case .overlay:
            // The plane goes whole: its rows, columns and origin mean nothing without its data.
            var holder = file.dataSet
            for step in path.steps {
                guard let items = holder[step.sequence]?.items, items.indices.contains(step.item) else { return .element(path) }
                holder = items[step.item].dataSet
            }
            return .elements(holder.elements.filter { $0.tag.group == path.tag.group }.map { ElementPath(steps: path.steps, tag: $0.tag) })
        case .preamble, .fileMeta, .privateBlock, .trailing:
            return .element(path)
        }
    }

    private func records(removed: Set<ElementPath>, truncated: [ElementPath: Int64], emptied: Set<ElementPath>,
                         cuts: [ElementPath: CodestreamCut], rejecting: Set<Int>, replaced: Set<Int>) -> [PartRecord] {
        var codes: [Int: [FindingCode]] = [:]
        var pathCodes: [ElementPath: [FindingCode]] = [:]
        for observation in observations {
            if let part = observation.part { codes[part, default: []].append(observation.finding.code) }
            switch observation.remedy {
            case let .removeElement(path), let .truncate(path, _), let .emptyOffsetTable(path), let .cutCodestreams(path, _):
                pathCodes[path, default: []].append(observation.finding.code)
            default: break
            }
        }
        return parts.enumerated().map { index, part in
            var action = PartAction.kept
            if rejecting.contains(index) {
                action = .rejected
            } else if replaced.contains(index) || part.kind == .preamble && file.preamble?.contains(where: { $0 != 0 }) == true {
                action = part.kind == .trailing ? .removed : .replaced
            } else if let path = part.path {
                if removed.contains(path) || ancestors(path).contains(where: removed.contains) {
                    action = .removed
                } else if cuts[path]?.cutParts.contains(index) == true {
                    action = .removed
                } else if cuts[path]?.narrowedParts.contains(index) == true {
                    action = .truncated
                } else if part.kind == .trailing && part.tag == Tag.pixelData && truncated[path] != nil {
                    action = .removed
                } else if truncated[path] != nil, case .pixelFrame = part.kind {
                    action = .kept
                } else if truncated[path] != nil {
                    action = .truncated
                } else if emptied.contains(path), part.kind == .offsetTable {
                    action = .replaced
                }
            }
            let pathFindings = part.path.map { pathCodes[$0] ?? [] } ?? []
            return PartRecord(part: part.kind.name, location: part.location, size: part.bytes.length,
                              checks: checks(part.kind) + engines, action: action,
                              findings: Array(Set((codes[index] ?? []) + pathFindings)).sorted())
        }
    }

    /// The paths of the sequences above an element (a removed sequence removes what is inside).
    private func ancestors(_ path: ElementPath) -> [ElementPath] {
        path.steps.indices.map { ElementPath(steps: Array(path.steps[..<$0]), tag: path.steps[$0].sequence) }
    }

    private func checks(_ kind: Part.Kind) -> [String] {
        switch kind {
        case .preamble: ["preamble"]
        case .fileMeta: ["structure"]
        case .element, .privateBlock, .waveform, .trailing: ["structure", "signatures"]
        case .overlay, .icon: ["structure", "signatures", "pixel"]
        case .pixelFrame, .offsetTable: ["pixel"]
        case .fragment: ["pixel", "codestream"]
        case .document: ["document", "signatures"]
        }
    }
}
