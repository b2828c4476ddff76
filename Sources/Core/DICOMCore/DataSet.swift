/// An ordered collection of elements (ascending tags). A value type: reading never mutates shared state.
public struct DataSet: Sendable, Equatable {
    public private(set) var elements: [DataElement]

    public init(_ elements: [DataElement] = []) {
        self.elements = elements.sorted { $0.tag < $1.tag }
    }

    init(sorted elements: [DataElement]) { self.elements = elements }

    public var isEmpty: Bool { elements.isEmpty }

    private func index(of tag: Tag) -> Int? {
        var low = 0, high = elements.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if elements[mid].tag == tag { return mid }
            if elements[mid].tag < tag { low = mid + 1 } else { high = mid - 1 }
        }
        return nil
    }

    public subscript(tag: Tag) -> DataElement? {
        index(of: tag).map { elements[$0] }
    }

    /// Adds or replaces an element.
    public mutating func set(_ element: DataElement) {
        if let index = index(of: element.tag) {
            elements[index] = element
        } else {
            let insertion = elements.firstIndex { $0.tag > element.tag } ?? elements.count
            elements.insert(element, at: insertion)
        }
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        guard let index = index(of: tag) else { return nil }
        return elements.remove(at: index)
    }

    public mutating func removeAll(where predicate: (DataElement) -> Bool) {
        elements.removeAll(where: predicate)
    }

    /// A default-repertoire string value (UI, CS, DA, TM, AS, IS, DS, AE…; or any text read as
    /// Latin-1), with padding (trailing spaces/NULs, leading spaces) removed. Multi-valued
    /// values keep their backslashes; see `strings(_:)`.
    public func string(_ tag: Tag) -> String? {
        guard let bytes = self[tag]?.inlineBytes else { return nil }
        return DataSet.trimmed(String(decoding: bytes, as: Latin1.self))
    }

    public func strings(_ tag: Tag) -> [String] {
        guard let value = string(tag) else { return [] }
        return value.split(separator: "\\", omittingEmptySubsequences: false).map { DataSet.trimmed(String($0)) }
    }

    /// Raw bytes of a text value, for callers that decode with the Specific Character Set.
    public func textBytes(_ tag: Tag) -> [UInt8]? { self[tag]?.inlineBytes }

    public func uint16(_ tag: Tag, bigEndian: Bool = false) -> UInt16? {
        guard let b = self[tag]?.inlineBytes, b.count >= 2 else { return nil }
        return bigEndian ? UInt16(b[0]) << 8 | UInt16(b[1]) : UInt16(b[1]) << 8 | UInt16(b[0])
    }

    public func uint32(_ tag: Tag, bigEndian: Bool = false) -> UInt32? {
        guard let b = self[tag]?.inlineBytes, b.count >= 4 else { return nil }
        return bigEndian
            ? UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
            : UInt32(b[3]) << 24 | UInt32(b[2]) << 16 | UInt32(b[1]) << 8 | UInt32(b[0])
    }

    /// IS values and the like as an integer.
    public func int(_ tag: Tag) -> Int? { string(tag).flatMap { Int($0.split(separator: "\\").first ?? "") } }

    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        while let last = scalars.last, last == " " || last == "\u{0}" { scalars.removeLast() }
        while let first = scalars.first, first == " " { scalars.removeFirst() }
        return String(scalars)
    }
}

/// ISO 8859-1: every byte is the code point of the same value.
enum Latin1: Unicode.Encoding {
    typealias CodeUnit = UInt8
    typealias EncodedScalar = CollectionOfOne<UInt8>
    static var encodedReplacementCharacter: EncodedScalar { CollectionOfOne(0x3F) }
    static func decode(_ content: EncodedScalar) -> Unicode.Scalar { Unicode.Scalar(content.first!) }
    static func encode(_ content: Unicode.Scalar) -> EncodedScalar? {
        content.value < 256 ? CollectionOfOne(UInt8(content.value)) : nil
    }
    struct Parser: Unicode.Parser {
        typealias Encoding = Latin1
        init() {}
        mutating func parseScalar<I: IteratorProtocol>(from input: inout I) -> Unicode.ParseResult<EncodedScalar> where I.Element == UInt8 {
            guard let byte = input.next() else { return .emptyInput }
            return .valid(CollectionOfOne(byte))
        }
    }
    typealias ForwardParser = Parser
    typealias ReverseParser = Parser
}
