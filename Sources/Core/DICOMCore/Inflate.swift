/// A bounded RFC 1951 (raw DEFLATE) decoder for the Deflated Explicit VR Little Endian transfer
/// syntax. Pure Swift because the codec links no C. Output is capped by `limit`, so a "zip bomb"
/// ends in an error, not an allocation.
public enum Inflate {
    static func raw(_ input: [UInt8], limit: Int64, at baseOffset: Int64) throws(DICOMParseError) -> [UInt8] {
        var state = State(input: input, limit: limit, base: baseOffset)
        try state.run()
        return state.output
    }

    private struct Huffman {
        var counts = [UInt16](repeating: 0, count: 16)
        var symbols: [UInt16]

        /// Canonical Huffman code from code lengths (RFC 1951 §3.2.2). Returns nil when over-subscribed.
        init?(lengths: ArraySlice<UInt8>) {
            symbols = [UInt16](repeating: 0, count: lengths.count)
            for length in lengths { counts[Int(length)] += 1 }
            counts[0] = 0
            var left = 1
            for length in 1..<16 {
                left <<= 1
                left -= Int(counts[length])
                if left < 0 { return nil }
            }
            var offsets = [UInt16](repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
            for (symbol, length) in lengths.enumerated() where length != 0 {
                symbols[Int(offsets[Int(length)])] = UInt16(symbol)
                offsets[Int(length)] += 1
            }
        }
    }

    private struct State {
        let input: [UInt8]
        let limit: Int64
        let base: Int64
        var output: [UInt8] = []
        var position = 0
        var bitBuffer: UInt32 = 0
        var bitCount = 0

        init(input: [UInt8], limit: Int64, base: Int64) {
            self.input = input; self.limit = limit; self.base = base
            output.reserveCapacity(min(input.count * 4, 64 << 20))
        }

        func failure(_ detail: String) -> DICOMParseError {
            DICOMParseError(.inflate, at: base + Int64(position), "deflate stream: \(detail)")
        }

        mutating func bits(_ need: Int) throws(DICOMParseError) -> Int {
            while bitCount < need {
                guard position < input.count else { throw failure("ends early") }
                bitBuffer |= UInt32(input[position]) << UInt32(bitCount)
                position += 1
                bitCount += 8
            }
            let value = Int(bitBuffer & ((1 << UInt32(need)) - 1))
            bitBuffer >>= UInt32(need)
            bitCount -= need
            return value
        }

        mutating func decode(_ code: Huffman) throws(DICOMParseError) -> Int {
            var value = 0, first = 0, index = 0
            for length in 1..<16 {
                value |= try bits(1)
                let count = Int(code.counts[length])
                if value - count < first { return Int(code.symbols[index + (value - first)]) }
                index += count
                first += count
                first <<= 1
                value <<= 1
            }
            throw failure("invalid Huffman code")
        }

        mutating func emit(_ byte: UInt8) throws(DICOMParseError) {
            guard Int64(output.count) < limit else { throw failure("inflates beyond \(limit) bytes") }
            output.append(byte)
        }

        mutating func run() throws(DICOMParseError) {
            var last = false
            while !last {
                last = try bits(1) == 1
                switch try bits(2) {
                case 0: try stored()
                case 1: try block(State.fixedLiteral, State.fixedDistance)
                case 2:
                    let (literal, distance) = try dynamicTables()
                    try block(literal, distance)
                default: throw failure("reserved block type")
                }
            }
        }

        mutating func stored() throws(DICOMParseError) {
            bitBuffer = 0
            bitCount = 0
            guard position + 4 <= input.count else { throw failure("stored block header ends early") }
            let length = Int(input[position]) | Int(input[position + 1]) << 8
            let complement = Int(input[position + 2]) | Int(input[position + 3]) << 8
            guard length == (~complement & 0xFFFF) else { throw failure("stored block length check failed") }
            position += 4
            guard position + length <= input.count else { throw failure("stored block ends early") }
            guard Int64(output.count + length) <= limit else { throw failure("inflates beyond \(limit) bytes") }
            output.append(contentsOf: input[position..<position + length])
            position += length
        }

        static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
        static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

        static let fixedLiteral: Huffman = {
            var lengths = [UInt8](repeating: 8, count: 288)
            for i in 144..<256 { lengths[i] = 9 }
            for i in 256..<280 { lengths[i] = 7 }
            return Huffman(lengths: lengths[...])!
        }()
        static let fixedDistance = Huffman(lengths: [UInt8](repeating: 5, count: 30)[...])!

        mutating func block(_ literal: Huffman, _ distance: Huffman) throws(DICOMParseError) {
            while true {
                let symbol = try decode(literal)
                if symbol < 256 {
                    try emit(UInt8(symbol))
                } else if symbol == 256 {
                    return
                } else {
                    let index = symbol - 257
                    guard index < State.lengthBase.count else { throw failure("invalid length symbol") }
                    let length = State.lengthBase[index] + (try bits(State.lengthExtra[index]))
                    let distanceSymbol = try decode(distance)
                    guard distanceSymbol < State.distanceBase.count else { throw failure("invalid distance symbol") }
                    let back = State.distanceBase[distanceSymbol] + (try bits(State.distanceExtra[distanceSymbol]))
                    guard back <= output.count else { throw failure("distance reaches before the start") }
                    guard Int64(output.count + length) <= limit else { throw failure("inflates beyond \(limit) bytes") }
                    let start = output.count - back
                    for i in 0..<length { output.append(output[start + i]) }
                }
            }
        }

        mutating func dynamicTables() throws(DICOMParseError) -> (Huffman, Huffman) {
            let literalCount = try bits(5) + 257
            let distanceCount = try bits(5) + 1
            let codeCount = try bits(4) + 4
            guard literalCount <= 286, distanceCount <= 30 else { throw failure("too many codes") }
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var codeLengths = [UInt8](repeating: 0, count: 19)
            for i in 0..<codeCount { codeLengths[order[i]] = UInt8(try bits(3)) }
            guard let lengthCode = Huffman(lengths: codeLengths[...]) else { throw failure("bad code-length code") }
            var lengths: [UInt8] = []
            lengths.reserveCapacity(literalCount + distanceCount)
            while lengths.count < literalCount + distanceCount {
                let symbol = try decode(lengthCode)
                switch symbol {
                case 0..<16: lengths.append(UInt8(symbol))
                case 16:
                    guard let previous = lengths.last else { throw failure("repeat with no previous length") }
                    lengths += repeatElement(previous, count: 3 + (try bits(2)))
                case 17: lengths += repeatElement(0, count: 3 + (try bits(3)))
                default: lengths += repeatElement(0, count: 11 + (try bits(7)))
                }
            }
            guard lengths.count == literalCount + distanceCount else { throw failure("code lengths overrun") }
            guard lengths[256] != 0,
                  let literal = Huffman(lengths: lengths[0..<literalCount]),
                  let distance = Huffman(lengths: lengths[literalCount...]) else { throw failure("bad literal/distance code") }
            return (literal, distance)
        }
    }
}

extension Inflate {
    /// A zlib stream (RFC 1950: two header bytes, raw DEFLATE, a checksum that is not checked), as
    /// PDF's FlateDecode stores it; nil when it is not one or inflates beyond `limit`.
    public static func zlib(_ input: [UInt8], limit: Int64) -> [UInt8]? {
        guard input.count >= 2, input[0] & 0x0F == 8, (Int(input[0]) << 8 | Int(input[1])) % 31 == 0, input[1] & 0x20 == 0 else { return nil }
        return try? raw(Array(input.dropFirst(2)), limit: limit, at: 0)
    }
}
