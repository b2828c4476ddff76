import DICOMCore
import SessionReport

/// Removals the policy asks for regardless of threats: private blocks whose creator is not
/// allow-listed (THREATS.md 3), icons, overlays and documents by their rules (THREATS.md 4, 5),
/// Data Set Trailing Padding (THREATS.md 2). Every removal is reported; private elements once per
/// creator (the per-part map lists each element).
enum PolicyRemovals {
    struct Plan {
        var observations: [Observation] = []
        /// Elements to leave out that have no finding of their own (members of a reported block).
        var silentRemovals: [ElementPath] = []
    }

    static func plan(_ file: DICOMFile, policy: ProtectorPolicy) -> Plan {
        var plan = Plan()
        var removed: [String: Int] = [:], kept: [String: Int] = [:]
        var creatorOrder: [String] = []
        var pending: [(DataSet, ElementPath?, Int)] = [(file.dataSet, nil, 0)]
        while let (dataSet, parent, item) = pending.popLast() {
            let creators = Disassembler.privateCreators(dataSet)
            var droppedOverlays = Set<UInt16>()
            for element in dataSet.elements {
                let path = parent?.child(item: item, tag: element.tag) ?? ElementPath(tag: element.tag)
                if element.tag.isPrivate {
                    // Creator elements (gggg,0010–00FF) name their own block.
                    let creator = (0x0010...0x00FF).contains(element.tag.element)
                        ? dataSet.string(element.tag) ?? "" : Disassembler.privateCreator(of: element.tag, creators) ?? ""
                    if removed[creator] == nil && kept[creator] == nil { creatorOrder.append(creator) }
                    if !creator.isEmpty && policy.keptPrivateCreators.contains(creator) {
                        kept[creator, default: 0] += 1
                    } else {
                        removed[creator, default: 0] += 1
                        plan.silentRemovals.append(path)
                        continue // nothing inside a removed private sequence matters
                    }
                }
                if element.tag == Tag.iconImageSequence, policy.icons != .keep {
                    plan.observations.append(rule(policy.icons, "an Icon Image Sequence", path))
                    continue
                }
                if element.tag.group & 0xFF00 == 0x6000, element.tag.group & 1 == 0, policy.overlays != .keep {
                    if element.tag.isOverlayData {
                        plan.observations.append(rule(policy.overlays, "an overlay plane", path))
                        droppedOverlays.insert(element.tag.group)
                    }
                }
                if element.tag == Tag.encapsulatedDocument, policy.documents != .keep {
                    let isDocumentClass = DocumentCheck.isDocumentClass(file.dataSet.string(Tag.sopClassUID) ?? "")
                    let reject = policy.documents == .reject || isDocumentClass
                    plan.observations.append(Observation(Finding(.documentEmbedded, reject ? .high : .medium,
                        reject ? "the policy does not accept encapsulated documents" : "encapsulated document removed by policy",
                        element: path.description), remedy: reject ? .reject : .removeElement(path)))
                }
                if element.tag == Tag.dataSetTrailingPadding {
                    plan.observations.append(Observation(Finding(.structureTrailingData, .medium, "Data Set Trailing Padding was removed",
                                                                 element: path.description), remedy: .removeElement(path)))
                }
                if let items = element.items {
                    for (index, nested) in items.enumerated() { pending.append((nested.dataSet, path, index)) }
                }
            }
            // A dropped overlay plane goes whole: its rows, columns and origin mean nothing alone.
            if policy.overlays == .drop {
                for element in dataSet.elements where droppedOverlays.contains(element.tag.group) && !element.tag.isOverlayData {
                    plan.silentRemovals.append(parent?.child(item: item, tag: element.tag) ?? ElementPath(tag: element.tag))
                }
            }
        }
        for creator in creatorOrder {
            let name = creator.isEmpty ? "without a creator" : "\"\(creator)\""
            if let count = removed[creator] {
                plan.observations.append(Observation(Finding(.privateRemoved, .info,
                    "\(count) element(s) of private block \(name) removed (creator not on the allow-list)")))
            }
            if let count = kept[creator] {
                plan.observations.append(Observation(Finding(.privateKept, .info, "\(count) element(s) of private block \(name) kept (allow-listed)")))
            }
        }
        return plan
    }

    private static func rule(_ rule: ProtectorPolicy.ContentRule, _ what: String, _ path: ElementPath) -> Observation {
        rule == .reject
            ? Observation(Finding(.structureRemoved, .high, "the policy does not accept \(what)", element: path.description), remedy: .reject)
            : Observation(Finding(.structureRemoved, .info, "\(what) removed by policy", element: path.description), remedy: .removeElement(path))
    }
}
