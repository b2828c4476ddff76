import DICOMCore

/// What the Protector accepts and how it rebuilds. A value passed in, never global state.
public struct ProtectorPolicy: Sendable {
    /// Bounds for parsing each file (depth, element count, lengths).
    public var parsing: ParsingOptions
    /// A TIFF header in the preamble is legitimate (PS3.10 §7.1 dual-format files); it is still
    /// zeroed on rebuild, but reported as `info` instead of `medium`.
    public var allowTIFFPreamble = true
    /// Identity written into every rebuilt file's meta group.
    public var implementationClassUID: String
    public var implementationVersionName: String

    public init(parsing: ParsingOptions = ParsingOptions(), implementationClassUID: String,
                implementationVersionName: String) {
        self.parsing = parsing
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
    }
}
