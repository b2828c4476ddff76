/// What a rebuild removed from a file, judged for people. Most "disarmed" files from a vendor's
/// disc lost only what every import of such a file loses — vendor-private blocks the policy does
/// not keep, Data Set Trailing Padding, icons and overlays the policy leaves out, a TIFF header in
/// the preamble — and staff must not read that as a threat. The verdict stays `disarmed` (the
/// contract); this only tells the routine clean-up apart from a removal for cause.
public enum RoutineRemoval: String, Codable, Sendable, CaseIterable, Comparable {
    case privateData, padding, icon, overlay, tiffPreamble

    /// Plain words, as in "vendor-private data removed as usual".
    public var words: String {
        switch self {
        case .privateData: "vendor-private data"
        case .padding: "padding"
        case .icon: "icons"
        case .overlay: "overlays"
        case .tiffPreamble: "a TIFF header"
        }
    }

    public static func < (lhs: RoutineRemoval, rhs: RoutineRemoval) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// "vendor-private data, padding and icons".
    public static func words(_ removals: some Collection<RoutineRemoval>) -> String {
        let words = Set(removals).sorted().map(\.words)
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " and " + words.last!
    }
}

extension Finding {
    /// The routine clean-up this finding records, nil when it records something else.
    public var routineRemoval: RoutineRemoval? {
        switch code {
        case .privateRemoved: return .privateData
        case .preambleTIFF: return .tiffPreamble
        // Data Set Trailing Padding (FFFC,FFFC) has no meaning by definition (PS3.5 7.2); bytes
        // after the end of the data set carry the same code without that element and are not routine.
        case .structureTrailingData: return element?.hasSuffix("(FFFC,FFFC)") == true ? .padding : nil
        // Policy removals are `info`; a policy that refuses the content rejects the file instead.
        case .structureRemoved where severity == .info:
            guard let element, element.count >= 11, element.hasSuffix(")"),
                  let group = UInt16(element.suffix(10).prefix(4), radix: 16) else { return nil }
            if element.hasSuffix("(0088,0200)") { return .icon }
            // Overlay planes: repeating groups 6000–601E, even.
            if group & 0xFF00 == 0x6000, group & 1 == 0 { return .overlay }
            return nil
        default: return nil
        }
    }

    /// Families whose findings record what a rebuild changed in a file's content (media, identity,
    /// delivery and the like say nothing about that).
    static let contentFamilies: Set<FindingCode.Family> = [.preamble, .structure, .pixel, .malware, .private, .document, .executable]
}

extension FileRecord {
    /// What was removed from a disarmed file when all of it was routine clean-up; nil when the
    /// file is not disarmed or anything about its content was more than routine or informational.
    public var routineCleanup: Set<RoutineRemoval>? {
        guard verdict == .disarmed else { return nil }
        var removals = Set<RoutineRemoval>()
        for finding in findings where Finding.contentFamilies.contains(finding.family) {
            if let removal = finding.routineRemoval {
                removals.insert(removal)
            } else if finding.severity > .info {
                return nil
            }
        }
        return removals.isEmpty ? nil : removals
    }
}

extension Report {
    /// Disarmed files split into routine clean-up and removals for cause.
    public struct CleanupCounts: Sendable, Equatable {
        /// Disarmed files that lost only routine content, and what that was across them.
        public var routine = 0
        public var removed: Set<RoutineRemoval> = []
        /// Disarmed files that lost something for cause (a program, malware, a broken part).
        public var forCause = 0

        public init() {}

        /// "52 images: vendor-private data removed as usual (not a threat)"; nil when there are none.
        public var routineSentence: String? {
            guard routine > 0 else { return nil }
            return "\(routine) image\(routine == 1 ? "" : "s"): \(RoutineRemoval.words(removed)) removed as usual (not a threat)"
        }
    }

    public var cleanupCounts: CleanupCounts {
        var counts = CleanupCounts()
        for file in files where file.verdict == .disarmed {
            if let removed = file.routineCleanup {
                counts.routine += 1
                counts.removed.formUnion(removed)
            } else {
                counts.forCause += 1
            }
        }
        return counts
    }
}
