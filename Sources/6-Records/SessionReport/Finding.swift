/// How bad a finding is. Ordered: `info` < `low` < … < `critical`.
public enum Severity: String, Codable, Sendable, Comparable, CaseIterable {
    case info, low, medium, high, critical

    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One observation about the media or a file (ARCHITECTURE.md §3.3). `code` is `family.name`;
/// families are a contract, names inside a family may be added freely (`FindingCode`).
public struct Finding: Codable, Sendable, Hashable {
    public var code: FindingCode
    public var severity: Severity
    /// Plain description for staff and auditors. Never patient data.
    public var detail: String
    /// The DICOM element concerned, `(gggg,eeee)`, when there is one.
    public var element: String?

    public init(_ code: FindingCode, _ severity: Severity, _ detail: String, element: String? = nil) {
        self.code = code; self.severity = severity; self.detail = detail; self.element = element
    }

    /// The family prefix: `media`, `dicomdir`, `structure`, …
    public var family: FindingCode.Family { code.family }
}
