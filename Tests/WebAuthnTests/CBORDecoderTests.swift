@testable import WebAuthn
import XCTest

/// The bounded CBOR decoder: RFC 8949 Appendix A's examples within WebAuthn's subset decode to their values, the
/// rest are refused by name, and hostile input ends in a positioned error, never a crash or a large allocation.
final class CBORDecoderTests: XCTestCase {
    private func decode(_ hex: String) throws(WebAuthnError) -> CBOR {
        try CBORDecoder.decode([UInt8](hex: hex), structure: "test")
    }

    private func assertRefused(_ hex: String, _ problem: CBORProblem, at offset: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Result { () throws(WebAuthnError) in try decode(hex) }.failure,
                       .malformedCBOR(structure: "test", offset: offset, problem: problem), hex, file: file, line: line)
    }

    func testAppendixAExamplesInScope() throws {
        let text: (String) -> CBOR = { .text($0) }
        let examples: [(String, CBOR)] = [
            ("00", .unsigned(0)), ("01", .unsigned(1)), ("0a", .unsigned(10)), ("17", .unsigned(23)), ("1818", .unsigned(24)),
            ("1819", .unsigned(25)), ("1864", .unsigned(100)), ("1903e8", .unsigned(1000)), ("1a000f4240", .unsigned(1_000_000)),
            ("1b000000e8d4a51000", .unsigned(1_000_000_000_000)), ("1bffffffffffffffff", .unsigned(UInt64.max)),
            ("3bffffffffffffffff", .negative(UInt64.max)), ("20", CBOR(-1)), ("29", CBOR(-10)), ("3863", CBOR(-100)), ("3903e7", CBOR(-1000)),
            ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null), ("f7", .undefined),
            ("40", .bytes([])), ("4401020304", .bytes([1, 2, 3, 4])),
            ("60", text("")), ("6161", text("a")), ("6449455446", text("IETF")), ("62225c", text("\"\\")), ("62c3bc", text("\u{fc}")),
            ("63e6b0b4", text("\u{6c34}")), ("64f0908591", text("\u{10151}")),
            ("80", .array([])), ("83010203", .array([1, 2, 3].map { CBOR($0) })),
            ("8301820203820405", .array([CBOR(1), .array([CBOR(2), CBOR(3)]), .array([CBOR(4), CBOR(5)])])),
            ("98190102030405060708090a0b0c0d0e0f101112131415161718181819", .array((1...25).map { CBOR(Int64($0)) })),
            ("a0", .map([])), ("a201020304", CBOREncoding.map([(CBOR(1), CBOR(2)), (CBOR(3), CBOR(4))])),
            ("a26161016162820203", CBOREncoding.map([(text("a"), CBOR(1)), (text("b"), .array([CBOR(2), CBOR(3)]))])),
            ("826161a161626163", .array([text("a"), CBOREncoding.map([(text("b"), text("c"))])])),
            ("a56161614161626142616361436164614461656145",
             CBOREncoding.map(["a", "b", "c", "d", "e"].map { (text($0), text($0.uppercased())) })),
        ]
        for (hex, value) in examples {
            XCTAssertEqual(try decode(hex), value, hex)
            XCTAssertEqual(CBOREncoding.encode(value), [UInt8](hex: hex), "re-encoding \(hex)")
        }
        XCTAssertEqual(CBOR.negative(UInt64.max).integer, nil, "-2^64 does not fit in Int64")
        XCTAssertEqual(CBOR(-257).integer, -257)
    }

    /// Appendix A examples outside WebAuthn's subset: floats, tags, other simple values, indefinite lengths.
    func testAppendixAExamplesOutOfScopeAreRefused() {
        for hex in ["f90000", "f98000", "f93c00", "fa47c35000", "fb3ff199999999999a", "f97c00", "f97e00", "fa7f800000", "fb7ff0000000000000"] {
            assertRefused(hex, .floatingPoint, at: 0)
        }
        for hex in ["c074323031332d30332d32315432303a30343a30305a", "c11a514b67b0", "d74401020304", "d818456449455446",
                    "c249010000000000000000", "c349010000000000000000"] {
            assertRefused(hex, .tag, at: 0)
        }
        assertRefused("f0", .unsupportedSimpleValue(16), at: 0)
        assertRefused("f8ff", .unsupportedSimpleValue(255), at: 0)
        for hex in ["5f42010243030405ff", "7f657374726561646d696e67ff", "9fff", "9f018202039f0405ffff", "bf61610161629f0203ffff",
                    "bf6346756ef563416d7421ff"] {
            assertRefused(hex, .indefiniteLength, at: 0)
        }
        assertRefused("83018202039f0405ff", .indefiniteLength, at: 5)
    }

    func testMalformedAndHostileInput() {
        assertRefused("", .truncated, at: 0)
        assertRefused("1901", .truncated, at: 0)
        assertRefused("82011a0000", .truncated, at: 2)
        assertRefused("8201", .lengthExceedsInput(claimed: 2, remaining: 1), at: 0)
        assertRefused("6261", .lengthExceedsInput(claimed: 2, remaining: 1), at: 0)
        assertRefused("5bffffffffffffffff", .lengthExceedsInput(claimed: UInt64.max, remaining: 0), at: 0)
        assertRefused("9b7fffffffffffffff00", .lengthExceedsInput(claimed: UInt64(Int64.max), remaining: 1), at: 0)
        assertRefused("9affffffff" + String(repeating: "00", count: 64), .lengthExceedsInput(claimed: 0xFFFF_FFFF, remaining: 64), at: 0)
        // A map needs two bytes per entry: 3 entries do not fit in 5 bytes.
        assertRefused("a30000000000", .lengthExceedsInput(claimed: 3, remaining: 5), at: 0)
        assertRefused("a201020103", .duplicateMapKey, at: 3)
        assertRefused("a2616101616102", .duplicateMapKey, at: 4)
        assertRefused("62c328", .invalidUTF8, at: 0)
        assertRefused("63eda080", .invalidUTF8, at: 0)   // a UTF-16 surrogate encoded as UTF-8
        assertRefused("1c", .reservedAdditionalInformation(28), at: 0)
        assertRefused("5e", .reservedAdditionalInformation(30), at: 0)
        assertRefused("1f", .reservedAdditionalInformation(31), at: 0)
        assertRefused("f810", .reservedAdditionalInformation(24), at: 0)
        assertRefused("ff", .unexpectedBreak, at: 0)
        XCTAssertEqual(Result { () throws(WebAuthnError) in try decode("0000") }.failure, .trailingBytes(structure: "test", offset: 1))
    }

    func testNestingAndItemLimits() {
        let deep = String(repeating: "81", count: 100_000) + "00"
        assertRefused(deep, .nestedTooDeep(limit: 16), at: 16)
        XCTAssertNoThrow(try decode(String(repeating: "81", count: 16) + "00"))
        let many = "991388" + String(repeating: "00", count: 5000)
        assertRefused(many, .tooManyItems(limit: 4096), at: 3 + 4095)
    }

    /// Non-minimal arguments are accepted (see CBORDecoder): the same value as the shortest form.
    func testNonMinimalEncodingsDecodeToTheirValue() throws {
        XCTAssertEqual(try decode("1800"), .unsigned(0))
        XCTAssertEqual(try decode("1b0000000000000001"), .unsigned(1))
        XCTAssertEqual(try decode("580100"), .bytes([0]))
        XCTAssertEqual(try decode("b900010102"), CBOREncoding.map([(CBOR(1), CBOR(2))]))
    }

    /// Every prefix of a valid item and every single-byte change of it: a value or a WebAuthnError, nothing else.
    func testPrefixesAndByteChangesNeverCrash() {
        let valid = CBOREncoding.encode(CBOREncoding.map([
            (CBOR(1), CBOR(2)), (CBOR(3), CBOR(-7)), (CBOR(-1), CBOR(1)), (CBOR(-2), .bytes(Array(repeating: 7, count: 32))),
            (.text("ext"), .array([.text("x"), .bool(true), .null, CBOREncoding.map([(.text("y"), .bytes([1]))])])),
        ]))
        for end in 0..<valid.count {
            XCTAssertThrowsError(try CBORDecoder.decode(Array(valid[..<end]), structure: "test"), "prefix of \(end) bytes")
        }
        for index in valid.indices {
            for value in [0x00, 0x17, 0x18, 0x1B, 0x5F, 0x7F, 0x9F, 0xBF, 0xFF] as [UInt8] {
                var changed = valid
                changed[index] = value
                _ = try? CBORDecoder.decode(changed, structure: "test")
            }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
