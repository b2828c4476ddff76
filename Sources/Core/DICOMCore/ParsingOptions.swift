/// Bounds and tolerances for reading untrusted files: a value passed to the reader, never global
/// state (DCMTK keeps these as global switches; we do not).
public struct ParsingOptions: Sendable, Equatable, Codable {
    /// Maximum sequence nesting (THREATS.md 7): deeper files are rejected, not recursed into.
    public var maxDepth = 64
    /// Maximum number of elements in the whole file, items and fragments included.
    public var maxElements = 1_000_000
    /// Maximum length of one value.
    public var maxElementLength: Int64 = 4 << 30
    /// Maximum size of a file (and of a deflated data set once inflated).
    public var maxFileSize: Int64 = 8 << 30
    /// Values longer than this are not loaded: they stay as a range of the source, copied on write.
    public var inlineValueLimit = 256 << 10
    /// Accept odd value lengths (a common encoder bug) with an issue instead of an error.
    public var allowOddLengths = true
    /// Accept files without the Part 10 preamble and meta group, guessing the encoding.
    public var allowMissingMeta = true
    /// Stop at bytes that cannot be the next top-level element and report them as trailing data
    /// (THREATS.md 2), instead of rejecting the file.
    public var allowTrailingData = true

    public init() {}
}
