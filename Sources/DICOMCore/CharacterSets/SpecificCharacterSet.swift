/// Decodes text values by (0008,0005) Specific Character Set.
public struct SpecificCharacterSet: Sendable, Equatable {
    public let terms: [String]

    public init(_ values: [String]) { terms = values }

    /// ISO_IR 192 is UTF-8; everything else decodes as ISO 8859-1 (the default repertoire is its
    /// ASCII subset), padding removed.
    public func decode(_ bytes: [UInt8], vr: String) -> String {
        let text = terms.first == "ISO_IR 192"
            ? String(decoding: bytes, as: UTF8.self)
            : String(decoding: bytes, as: Latin1.self)
        return DataSet.trimmed(text)
    }
}
