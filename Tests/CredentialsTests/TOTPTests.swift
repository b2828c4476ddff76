import Credentials
import Foundation
import TestSupport
import XCTest

final class TOTPTests: XCTestCase {
    /// RFC 6238 Appendix B: the published test vectors for SHA-1, SHA-256 and SHA-512, 8 digits.
    func testRFC6238Vectors() {
        let seed20 = Array("12345678901234567890".utf8)
        let seed32 = Array("12345678901234567890123456789012".utf8)
        let seed64 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)
        let vectors: [(Double, String, String, String)] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ]
        for (time, sha1, sha256, sha512) in vectors {
            let date = Date(timeIntervalSince1970: time)
            XCTAssertEqual(TOTP(secret: seed20, digits: 8).code(at: date), sha1, "SHA1 at \(time)")
            XCTAssertEqual(TOTP(secret: seed32, digits: 8, algorithm: .sha256).code(at: date), sha256, "SHA256 at \(time)")
            XCTAssertEqual(TOTP(secret: seed64, digits: 8, algorithm: .sha512).code(at: date), sha512, "SHA512 at \(time)")
        }
    }

    func testVerificationWindow() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        let now = Date(timeIntervalSince1970: 1_111_111_111)
        XCTAssertEqual(totp.verify(totp.code(at: now), at: now), totp.step(at: now))
        XCTAssertEqual(totp.verify(totp.code(at: now.addingTimeInterval(-30)), at: now), totp.step(at: now) - 1, "one step of drift")
        XCTAssertEqual(totp.verify(totp.code(at: now.addingTimeInterval(30)), at: now), totp.step(at: now) + 1)
        XCTAssertNil(totp.verify(totp.code(at: now.addingTimeInterval(-90)), at: now))
        XCTAssertNil(totp.verify("12a456", at: now))
        XCTAssertNil(totp.verify("1234567", at: now))
        XCTAssertNil(totp.verify("１２３４５６", at: now), "full-width digits")
        XCTAssertEqual(TOTP.generate().secret.count, 20)
        XCTAssertNotEqual(TOTP.generate().secret, TOTP.generate().secret)
    }

    /// pyotp, an independent implementation (the authenticator-app side): it computes codes for our
    /// secrets and times and ours must match; it verifies ours; its own secret works with ours; and it
    /// reads our provisioning URI back.
    func testAgreesWithPyOTP() throws {
        let (python, environment) = try TestSupport.pythonWith(["pyotp"])
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let now = Date().timeIntervalSince1970.rounded(.down)
        let times: [Double] = [59, 1_111_111_109, 1_234_567_890, 2_000_000_000, 20_000_000_000, now]
        let cases: [TOTP] = [
            TOTP.generate(),
            TOTP(secret: random(20), digits: 8),
            TOTP(secret: random(32), digits: 6, period: 60, algorithm: .sha256),
            TOTP(secret: random(64), digits: 8, algorithm: .sha512),
            TOTP(secret: random(16), digits: 7),
        ]
        let request: [[String: Any]] = cases.map { totp in
            [
                "secret": Base32.encode(totp.secret), "digits": totp.digits, "period": Int(totp.period),
                "algorithm": totp.algorithm.rawValue.lowercased(), "times": times.map { Int64($0) },
                "ours": times.map { totp.code(at: Date(timeIntervalSince1970: $0)) },
                "uri": totp.provisioningURI(account: "Anna Müller <anna@example.org>", issuer: "dicom portal"),
            ]
        }
        let script = """
            import hashlib, json, sys, pyotp
            cases = json.loads(sys.argv[1])
            out = []
            for case in cases:
                totp = pyotp.TOTP(case["secret"], digits=case["digits"], interval=case["period"],
                                  digest=getattr(hashlib, case["algorithm"]))
                parsed = pyotp.parse_uri(case["uri"])
                out.append({
                    "codes": [totp.at(t) for t in case["times"]],
                    "verified": [totp.verify(code, for_time=t) for code, t in zip(case["ours"], case["times"])],
                    "uri": {"secret": parsed.secret, "name": parsed.name, "issuer": parsed.issuer,
                            "digits": parsed.digits, "interval": parsed.interval, "digest": parsed.digest().name},
                })
            own = pyotp.random_base32()
            times = [int(t) for t in sys.argv[2:]]
            print(json.dumps({"cases": out, "own": {"secret": own, "codes": [pyotp.TOTP(own).at(t) for t in times]}}))
            """
        let arguments = [String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)]
            + times.map { String(Int64($0)) }
        let result = try TestSupport.run(python, ["-c", script] + arguments, environment: environment)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        let answers = try XCTUnwrap(answer["cases"] as? [[String: Any]])
        XCTAssertEqual(answers.count, cases.count)
        for (totp, theirs) in zip(cases, answers) {
            let label = "\(totp.algorithm) \(totp.digits) digits \(totp.period) s"
            XCTAssertEqual(theirs["codes"] as? [String], times.map { totp.code(at: Date(timeIntervalSince1970: $0)) }, label)
            XCTAssertEqual(theirs["verified"] as? [Bool], times.map { _ in true }, label)
            for (time, code) in zip(times, theirs["codes"] as? [String] ?? []) {
                XCTAssertNotNil(totp.verify(code, at: Date(timeIntervalSince1970: time)), "\(label) at \(time)")
            }
            let uri = try XCTUnwrap(theirs["uri"] as? [String: Any])
            XCTAssertEqual(uri["secret"] as? String, Base32.encode(totp.secret))
            XCTAssertEqual(uri["name"] as? String, "Anna Müller <anna@example.org>")
            XCTAssertEqual(uri["issuer"] as? String, "dicom portal")
            XCTAssertEqual(uri["digits"] as? Int, totp.digits)
            XCTAssertEqual(uri["interval"] as? Int, Int(totp.period))
            XCTAssertEqual(uri["digest"] as? String, totp.algorithm.rawValue.lowercased())
        }
        let own = try XCTUnwrap(answer["own"] as? [String: Any])
        let secret = try XCTUnwrap(Base32.decode(try XCTUnwrap(own["secret"] as? String)))
        let theirs = TOTP(secret: secret)
        for (time, code) in zip(times, try XCTUnwrap(own["codes"] as? [String])) {
            XCTAssertEqual(theirs.code(at: Date(timeIntervalSince1970: time)), code, "pyotp's secret at \(time)")
            XCTAssertNotNil(theirs.verify(code, at: Date(timeIntervalSince1970: time)))
        }
    }

    func testProvisioningURI() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        let uri = totp.provisioningURI(account: "Front Desk 1", issuer: "kiosk-agent")
        XCTAssertEqual(uri, "otpauth://totp/kiosk-agent:Front%20Desk%201?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=kiosk-agent&algorithm=SHA1&digits=6&period=30")
    }
}
