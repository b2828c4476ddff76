/// Bytes of a value: held in memory, or left in the source (large values such as Pixel Data) and
/// copied from it only when written.
public enum ValueBytes: Sendable, Equatable {
    case inline([UInt8])
    case deferred(offset: Int64, length: Int64)

    public var length: Int64 {
        switch self {
        case let .inline(bytes): Int64(bytes.count)
        case let .deferred(_, length): length
        }
    }
}

/// One item of a sequence, with the file offset of its item tag (DICOMDIR records link by it).
public struct Item: Sendable, Equatable {
    public var dataSet: DataSet
    public var offset: Int64

    public init(dataSet: DataSet, offset: Int64) { self.dataSet = dataSet; self.offset = offset }
}

/// One fragment of encapsulated Pixel Data (the first is the Basic Offset Table).
public struct Fragment: Sendable, Equatable {
    public var bytes: ValueBytes
    public var offset: Int64

    public init(bytes: ValueBytes, offset: Int64) { self.bytes = bytes; self.offset = offset }
}

public enum Value: Sendable, Equatable {
    case bytes(ValueBytes)
    case sequence([Item])
    /// Encapsulated Pixel Data: Basic Offset Table, then the fragments, kept raw.
    case fragments(offsetTable: Fragment, fragments: [Fragment])
}

public struct DataElement: Sendable, Equatable {
    public var tag: Tag
    public var vr: VR
    public var value: Value
    /// Offset of the element's tag in the source.
    public var offset: Int64
    /// The element was encoded with undefined length (sequences, encapsulated pixel data, UN).
    public var undefinedLength: Bool

    public init(tag: Tag, vr: VR, value: Value, offset: Int64 = 0, undefinedLength: Bool = false) {
        self.tag = tag; self.vr = vr; self.value = value; self.offset = offset; self.undefinedLength = undefinedLength
    }

    /// The value bytes when held in memory (nil for deferred values, sequences and fragments).
    public var inlineBytes: [UInt8]? {
        if case let .bytes(.inline(bytes)) = value { return bytes }
        return nil
    }

    public var items: [Item]? {
        if case let .sequence(items) = value { return items }
        return nil
    }
}
