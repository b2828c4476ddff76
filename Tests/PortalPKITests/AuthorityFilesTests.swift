import Foundation
import PortalPKI
import XCTest

/// The files the CA writes, checked with the real `openssl`.
final class AuthorityFilesTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    private var caDirectory: String { directory.path + "/ca" }

    func testCACertificateIsAConstrainedTenYearCA() throws {
        let authority = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")
        let text = try openssl(["x509", "-noout", "-text", "-in", caDirectory + "/portal-ca.crt"])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.contains("CA:TRUE, pathlen:0"), text.output)
        XCTAssertTrue(text.output.contains("Certificate Sign, CRL Sign"), text.output)
        XCTAssertTrue(text.output.contains("CN=St Example Hospital portal CA") || text.output.contains("CN = St Example Hospital portal CA"), text.output)
        XCTAssertTrue(text.output.contains("prime256v1"), text.output)
        let years = authority.certificate.notValidAfter.timeIntervalSince(authority.certificate.notValidBefore) / (365 * 86400)
        XCTAssertEqual(years, 10, accuracy: 0.01)
        try assertMode(caDirectory + "/portal-ca.key", 0o600)
        XCTAssertEqual(try openssl(["ec", "-noout", "-check", "-in", caDirectory + "/portal-ca.key"]).status, 0)
    }

    func testCAIsCreatedOnceThenLoaded() throws {
        let first = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")
        let second = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "Other")
        XCTAssertEqual(first.certificate, second.certificate)
        try FileManager.default.removeItem(atPath: caDirectory + "/portal-ca.key")
        XCTAssertThrowsError(try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")) {
            XCTAssertEqual($0 as? PKIError, .incompleteAuthority(directory: self.caDirectory))
        }
    }

    func testKioskFilesVerifyAgainstThePortalCA() throws {
        let authority = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")
        let out = directory.path + "/kiosk-a"
        let issued = try authority.issueKiosk(name: "desk-1.radiology_A", outputDirectory: out)

        let verify = try openssl(["verify", "-CAfile", out + "/portal-ca.crt", "-purpose", "sslclient", out + "/kiosk.crt"])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("OK"), verify.output)
        XCTAssertNotEqual(try openssl(["verify", "-CAfile", out + "/portal-ca.crt", "-purpose", "sslserver", out + "/kiosk.crt"]).status, 0)

        let text = try openssl(["x509", "-noout", "-text", "-in", out + "/kiosk.crt"]).output
        for expected in ["TLS Web Client Authentication", "Subject Key Identifier", "Authority Key Identifier", "CA:FALSE", "desk-1.radiology_A"] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        let serial = try openssl(["x509", "-noout", "-serial", "-in", out + "/kiosk.crt"]).output
        XCTAssertEqual(serial.trimmingCharacters(in: .whitespacesAndNewlines).lowercased(), "serial=" + issued.serial)
        XCTAssertTrue((24...32).contains(issued.serial.count), "a 128-bit random serial: \(issued.serial)")
        let fingerprint = try openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", out + "/kiosk.crt"]).output
        XCTAssertTrue(fingerprint.replacingOccurrences(of: ":", with: "").lowercased().contains(issued.fingerprint), fingerprint)
        let years = issued.notValidAfter.timeIntervalSinceNow / (365 * 86400)
        XCTAssertEqual(years, 2, accuracy: 0.01)

        try assertMode(out + "/kiosk.key", 0o600)
        XCTAssertEqual(try openssl(["ec", "-noout", "-check", "-in", out + "/kiosk.key"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: out + "/portal-ca.crt", encoding: .utf8), try authority.certificatePEM())

        let other = try authority.issueKiosk(name: "desk-2", outputDirectory: directory.path + "/kiosk-b")
        XCTAssertNotEqual(other.serial, issued.serial)
    }

    func testKioskNamesAreValidatedAndFilesNeverReplaced() throws {
        let authority = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")
        for bad in ["", String(repeating: "a", count: 65), "desk 1", "desk/1", "dësk", "CN=x,O=y"] {
            XCTAssertThrowsError(try authority.issueKiosk(name: bad, outputDirectory: directory.path + "/bad")) {
                XCTAssertEqual($0 as? PKIError, .invalidKioskName(bad))
            }
        }
        XCTAssertNoThrow(try authority.issueKiosk(name: String(repeating: "a", count: 64), outputDirectory: directory.path + "/long"))
        XCTAssertThrowsError(try authority.issueKiosk(name: "again", outputDirectory: directory.path + "/long")) {
            XCTAssertEqual($0 as? PKIError, .kioskFilesExist(path: self.directory.path + "/long/kiosk.key"))
        }
    }

    func testServerCertificateIsReusedAndReissuedWhenNamesChangeOrExpiryNears() throws {
        let authority = try PortalAuthority.openOrCreate(directory: caDirectory, organization: "St Example Hospital")
        let first = try authority.serverCredentials(names: ["portal.example.org", "127.0.0.1", "::1"])
        let verify = try openssl(["verify", "-CAfile", caDirectory + "/portal-ca.crt", "-purpose", "sslserver", first.certificatePath])
        XCTAssertEqual(verify.status, 0, verify.output)
        let text = try openssl(["x509", "-noout", "-text", "-in", first.certificatePath]).output
        for expected in ["DNS:portal.example.org", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "TLS Web Server Authentication"] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        try assertMode(first.keyPath, 0o600)

        XCTAssertEqual(try authority.serverCredentials(names: ["portal.example.org", "127.0.0.1", "::1"]).certificate, first.certificate)
        let renamed = try authority.serverCredentials(names: ["core.example.org"])
        XCTAssertNotEqual(renamed.certificate, first.certificate)

        // Eleven months later the certificate is within its renewal window.
        let later = try PortalAuthority.openOrCreate(
            directory: caDirectory, organization: "St Example Hospital", now: { Date() + 370 * 86400 })
        XCTAssertNotEqual(try later.serverCredentials(names: ["core.example.org"]).certificate, renamed.certificate)

        XCTAssertThrowsError(try authority.serverCredentials(names: ["not a host"])) {
            XCTAssertEqual($0 as? PKIError, .invalidServerName("not a host"))
        }
    }

    private func assertMode(_ path: String, _ mode: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, mode, path, file: file, line: line)
    }
}
