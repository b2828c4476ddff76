/// A decoded CBOR data item (RFC 8949), restricted to what WebAuthn's CTAP2 canonical CBOR carries.
enum CBOR: Hashable, Sendable {
    case unsigned(UInt64)
    /// Major type 1: the value is -1 - argument (so COSE label -1 is `.negative(0)`).
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Entries in the order they were encoded; keys are unique (the decoder refuses duplicates).
    case map([Entry])
    case bool(Bool)
    case null
    case undefined

    struct Entry: Hashable, Sendable {
        let key: CBOR
        let value: CBOR
    }

    /// An integer key or value (COSE labels and algorithm identifiers), when it fits in Int64.
    init(_ integer: Int64) {
        self = integer >= 0 ? .unsigned(UInt64(integer)) : .negative(UInt64(-1 - integer))
    }

    var integer: Int64? {
        switch self {
        case let .unsigned(value): return value <= UInt64(Int64.max) ? Int64(value) : nil
        case let .negative(argument): return argument <= UInt64(Int64.max) ? -1 - Int64(argument) : nil
        default: return nil
        }
    }

    /// The value for `key` when this is a map.
    subscript(key: CBOR) -> CBOR? {
        guard case let .map(entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }
}

/// Bounds on what one decode may build, checked before anything is allocated.
struct CBORLimits: Sendable {
    /// Arrays and maps inside arrays and maps (COSE keys and WebAuthn extensions need 3 or 4).
    var maxDepth = 16
    /// Data items in all, nested ones included.
    var maxItems = 4096
}

/// A decoder for definite-length CBOR: unsigned and negative integers, byte and text strings, arrays, maps, and the
/// simple values false, true, null, undefined. It refuses what CTAP2 canonical CBOR never contains (indefinite
/// lengths, tags, floats, other simple values) and duplicate map keys. It accepts non-minimal integer and length
/// encodings and any map key order: WebAuthn signatures cover the raw bytes, so a second encoding of the same value
/// cannot change what is verified, and refusing it would only turn away authenticators for a form defect.
///
/// Item header: initial byte = major type (3 bits) | additional information (5 bits); additional information
/// 0–23 is the argument itself, 24/25/26/27 = a 1/2/4/8-byte big-endian argument follows, 28–30 reserved, 31 =
/// indefinite length (or break for major type 7).
struct CBORDecoder {
    private let bytes: [UInt8]
    private let structure: String
    private let limits: CBORLimits
    private(set) var position: Int
    private var items = 0

    /// Decodes `bytes` from `start`; `structure` names the object in errors, whose offsets count from `bytes[0]`.
    init(_ bytes: [UInt8], from start: Int = 0, structure: String, limits: CBORLimits = CBORLimits()) {
        self.bytes = bytes
        self.structure = structure
        self.limits = limits
        self.position = start
    }

    /// Decodes exactly one item that must end where `bytes` ends.
    static func decode(_ bytes: [UInt8], structure: String, limits: CBORLimits = CBORLimits()) throws(WebAuthnError) -> CBOR {
        var decoder = CBORDecoder(bytes, structure: structure, limits: limits)
        let item = try decoder.decodeItem()
        guard decoder.position == bytes.count else { throw .trailingBytes(structure: structure, offset: decoder.position) }
        return item
    }

    /// Decodes one item and leaves `position` just past it.
    mutating func decodeItem() throws(WebAuthnError) -> CBOR {
        try item(depth: 0)
    }

    private func failure(_ problem: CBORProblem, at offset: Int) -> WebAuthnError {
        .malformedCBOR(structure: structure, offset: offset, problem: problem)
    }

    private var remaining: Int { bytes.count - position }

    private mutating func item(depth: Int) throws(WebAuthnError) -> CBOR {
        let start = position
        items += 1
        guard items <= limits.maxItems else { throw failure(.tooManyItems(limit: limits.maxItems), at: start) }
        guard position < bytes.count else { throw failure(.truncated, at: start) }
        let initial = bytes[position]
        position += 1
        let major = initial >> 5, additional = initial & 0x1F

        if major == 7 {
            switch additional {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            case 24:
                guard position < bytes.count else { throw failure(.truncated, at: start) }
                // RFC 8949 §3.3: a one-byte simple value below 32 is not well formed; 32–255 are unassigned here.
                let value = bytes[position]
                throw failure(value < 32 ? .reservedAdditionalInformation(24) : .unsupportedSimpleValue(value), at: start)
            case 25, 26, 27: throw failure(.floatingPoint, at: start)
            case 28, 29, 30: throw failure(.reservedAdditionalInformation(additional), at: start)
            case 31: throw failure(.unexpectedBreak, at: start)
            default: throw failure(.unsupportedSimpleValue(additional), at: start)
            }
        }

        let argument: UInt64
        switch additional {
        case 0...23: argument = UInt64(additional)
        case 24, 25, 26, 27:
            let width = 1 << Int(additional - 24)
            guard remaining >= width else { throw failure(.truncated, at: start) }
            argument = bytes[position..<position + width].reduce(0) { $0 << 8 | UInt64($1) }
            position += width
        case 31:
            throw failure(major == 0 || major == 1 || major == 6 ? .reservedAdditionalInformation(31) : .indefiniteLength, at: start)
        default:
            throw failure(.reservedAdditionalInformation(additional), at: start)
        }

        switch major {
        case 0: return .unsigned(argument)
        case 1: return .negative(argument)
        case 2, 3:
            guard argument <= UInt64(remaining) else { throw failure(.lengthExceedsInput(claimed: argument, remaining: remaining), at: start) }
            let content = Array(bytes[position..<position + Int(argument)])
            position += Int(argument)
            if major == 2 { return .bytes(content) }
            let text = String(decoding: content, as: UTF8.self)
            // String(decoding:) repairs invalid sequences with U+FFFD; a repaired string re-encodes differently.
            guard text.utf8.elementsEqual(content) else { throw failure(.invalidUTF8, at: start) }
            return .text(text)
        case 4, 5:
            guard depth < limits.maxDepth else { throw failure(.nestedTooDeep(limit: limits.maxDepth), at: start) }
            // Every item takes at least one byte: a count the rest of the input cannot hold is refused before
            // anything is reserved for it.
            let perElement: UInt64 = major == 4 ? 1 : 2
            guard argument <= UInt64(remaining) / perElement else {
                throw failure(.lengthExceedsInput(claimed: argument, remaining: remaining), at: start)
            }
            let count = Int(argument)
            if major == 4 {
                var elements: [CBOR] = []
                elements.reserveCapacity(count)
                for _ in 0..<count { elements.append(try item(depth: depth + 1)) }
                return .array(elements)
            }
            var entries: [CBOR.Entry] = []
            entries.reserveCapacity(count)
            var keys = Set<CBOR>(minimumCapacity: count)
            for _ in 0..<count {
                let keyOffset = position
                let key = try item(depth: depth + 1)
                guard keys.insert(key).inserted else { throw failure(.duplicateMapKey, at: keyOffset) }
                entries.append(CBOR.Entry(key: key, value: try item(depth: depth + 1)))
            }
            return .map(entries)
        default:
            throw failure(.tag, at: start)
        }
    }
}
