import PortalStore
import XCTest
import PortalTestSupport

final class DatabaseSettingsTests: XCTestCase {
    func testParsesAServerURL() throws {
        let settings = try DatabaseSettings(url: "postgres://portal:p%40ss@db.example:6432/portal?sslmode=require&sslrootcert=/etc/ca.pem")
        XCTAssertEqual(settings.endpoint, .tcp(host: "db.example", port: 6432))
        XCTAssertEqual(settings.username, "portal")
        XCTAssertEqual(settings.password, "p@ss")
        XCTAssertEqual(settings.database, "portal")
        XCTAssertEqual(settings.tls, .require)
        XCTAssertEqual(settings.caFile, "/etc/ca.pem")
        XCTAssertFalse(settings.description.contains("p@ss"))
    }

    func testDefaultsToVerifiedTLSAndParsesASocketDirectory() throws {
        XCTAssertEqual(try DatabaseSettings(url: "postgresql://u@h/d").tls, .verifyFull)
        let socket = try DatabaseSettings(url: "postgres://u@/d?host=/run/postgresql")
        XCTAssertEqual(socket.endpoint, .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
        XCTAssertEqual(socket.tls, .disable)
    }

    func testRejectsWhatItDoesNotUnderstand() {
        XCTAssertThrowsError(try DatabaseSettings(url: "mysql://u@h/d")) { XCTAssertEqual($0 as? DatabaseSettingsError, .notAPostgresURL) }
        XCTAssertThrowsError(try DatabaseSettings(url: "postgres://h/d")) { XCTAssertEqual($0 as? DatabaseSettingsError, .missing("user")) }
        XCTAssertThrowsError(try DatabaseSettings(url: "postgres://u@h")) { XCTAssertEqual($0 as? DatabaseSettingsError, .missing("database")) }
        XCTAssertThrowsError(try DatabaseSettings(url: "postgres://u@h/d?sslmode=allow")) {
            XCTAssertEqual($0 as? DatabaseSettingsError, .unsupportedTLSMode("allow"))
        }
        XCTAssertThrowsError(try DatabaseSettings(url: "postgres://u@h/d?connect_timeout=3")) {
            XCTAssertEqual($0 as? DatabaseSettingsError, .unsupportedParameter("connect_timeout"))
        }
    }
}
