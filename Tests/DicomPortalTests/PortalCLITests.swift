import Foundation
import PortalStore
import PostgresNIO
import TestSupport
import XCTest

/// The `dicom-portal` administration commands as scripts run them: exit codes, the lines they print, and what
/// they leave in the database — against the private cluster under a temporary state directory.
final class PortalCLITests: XCTestCase {
    private var binary: String { TestSupport.productsDirectory.appendingPathComponent("dicom-portal").path }

    private func portal(_ arguments: [String], state: String, config: String? = nil) throws -> TestSupport.ToolResult {
        let configArguments = config.map { ["--config", $0] } ?? []
        // Subcommand path first, then the shared options.
        return try TestSupport.run(binary, arguments + ["--state-dir", state] + configArguments,
                                   environment: ["DICOM_PORTAL_CONFIG": ""], check: false)
    }

    private func temporaryDirectory() throws -> String {
        // Short: the private cluster's socket path must fit in 107 bytes.
        let path = "/tmp/dpc-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testCheckNamesTheLineAndKeyOfEveryProblem() throws {
        let state = try temporaryDirectory()
        let sample = TestSupport.packageRoot.appendingPathComponent("config/dicom-portal.toml").path
        let valid = try portal(["check"], state: state, config: sample)
        XCTAssertEqual(valid.status, 0, valid.stderrText)
        XCTAssertTrue(valid.stdoutText.contains("valid (core 127.0.0.1:8480, database private cluster under \(state)/postgres, delivery archive:"),
                      valid.stdoutText)

        let bad = state + "/bad.toml"
        try "[core]\nlisten = \"127.0.0.1:8480\"\n\n[worker]\nleese_seconds = 10\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let typo = try portal(["check"], state: state, config: bad)
        XCTAssertEqual(typo.status, 2)
        XCTAssertEqual(typo.stderrText, "dicom-portal: \(bad): line 5: unknown key worker.leese_seconds\n")

        try "[delivery]\ndestination = \"ftp://pacs\"\n[database]\npassword_file = \"/nonexistent\"\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let values = try portal(["check"], state: state, config: bad)
        XCTAssertEqual(values.status, 2)
        XCTAssertTrue(values.stderrText.contains("delivery.destination: unknown destination 'ftp://pacs'"), values.stderrText)
        XCTAssertTrue(values.stderrText.contains("database.password_file is set but database.url is not"), values.stderrText)
    }

    /// Registry, kiosks and the audit chain, end to end on one private cluster (started by the first command
    /// here and kept running, as `core` would, so each command finds it).
    func testAdministrationCommands() async throws {
        let state = try temporaryDirectory()
        let cluster: EmbeddedPostgres
        do { cluster = try EmbeddedPostgres(directory: state + "/postgres", durability: .volatile) } catch .toolMissing(let tool) {
            throw XCTSkip("PostgreSQL is not installed: \(tool) (scripts/install-deps installs postgresql)")
        }
        try await cluster.start()
        defer { Task { try? await cluster.stop() } }

        let migrate = try portal(["migrate"], state: state)
        XCTAssertEqual(migrate.status, 0, migrate.stderrText)
        XCTAssertTrue(migrate.stdoutText.hasPrefix("applied version 1, version 2, version 3, version 4, version 5; schema at version 5"), migrate.stdoutText)
        let again = try portal(["migrate"], state: state)
        XCTAssertTrue(again.stdoutText.hasPrefix("schema up to date"), again.stdoutText)

        // Patients.
        let add = try portal(["patient", "add", "--id", "H123", "--name", "Doe^Jane", "--birth-date", "19700102", "--email", "jane@example.org"], state: state)
        XCTAssertEqual(add.status, 0, add.stderrText)
        let duplicate = try portal(["patient", "add", "--id", "H123", "--name", "Doe^Jane", "--birth-date", "19700102"], state: state)
        XCTAssertEqual(duplicate.status, 1)
        XCTAssertEqual(duplicate.stderrText, "dicom-portal: patient H123 is already registered\n")
        let badDate = try portal(["patient", "add", "--id", "H9", "--name", "Doe^J", "--birth-date", "19700231"], state: state)
        XCTAssertEqual(badDate.status, 2)
        XCTAssertEqual(badDate.stderrText, "dicom-portal: the birth date must be a real date written YYYYMMDD\n")

        let csv = state + "/patients.csv"
        try """
            patient_id,name,birth_date,sex,email
            H200,"Roe^Richard",19800315,M,
            H201,Smith^Ann,1990-01-01,F,
            H202,"O'Brien^Mary, Jr",19551231,f,mary@example.org
            H123,Doe^Jane,19700102,F,
            H203,Bad^Row,19700101

            """.write(toFile: csv, atomically: true, encoding: .utf8)
        let imported = try portal(["patient", "import", csv], state: state)
        XCTAssertEqual(imported.status, 1)
        XCTAssertEqual(imported.stdoutText, "registered 2 patients; refused 3\n")
        XCTAssertEqual(imported.stderrText, """
            \(csv): line 3: the birth date must be a real date written YYYYMMDD
            \(csv): line 5: patient H123 is already registered
            \(csv): line 6: 3 fields where the header names 5

            """)
        let list = try portal(["patient", "list"], state: state)
        XCTAssertEqual(list.stdoutText, """
            H123\t\tDoe^Jane\t19700102\t\tjane@example.org
            H200\t\tRoe^Richard\t19800315\tM\t
            H202\t\tO'Brien^Mary, Jr\t19551231\tF\tmary@example.org

            """)

        // Kiosks.
        let out = state + "/desk-1"
        let kiosk = try portal(["kiosk", "add", "desk-1", "--out", out], state: state)
        XCTAssertEqual(kiosk.status, 0, kiosk.stderrText)
        XCTAssertTrue(kiosk.stdoutText.contains("wrote \(out)/kiosk.crt, \(out)/kiosk.key, \(out)/portal-ca.crt"), kiosk.stdoutText)
        let keyMode = try FileManager.default.attributesOfItem(atPath: out + "/kiosk.key")[.posixPermissions] as? Int
        XCTAssertEqual(keyMode, 0o600)
        let verified = try TestSupport.run("openssl", ["verify", "-CAfile", out + "/portal-ca.crt", out + "/kiosk.crt"])
        XCTAssertEqual(verified.stdoutText, "\(out)/kiosk.crt: OK\n")
        let again1 = try portal(["kiosk", "add", "desk-1", "--out", state + "/other"], state: state)
        XCTAssertEqual(again1.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/other/kiosk.key"), "no certificate is issued for a taken name")
        let badName = try portal(["kiosk", "add", "desk 1", "--out", state + "/other"], state: state)
        XCTAssertEqual(badName.status, 2)
        XCTAssertTrue(try portal(["kiosk", "list"], state: state).stdoutText.hasPrefix("desk-1\tactive\t"))
        let revoke = try portal(["kiosk", "revoke", "desk-1"], state: state)
        XCTAssertEqual(revoke.status, 0, revoke.stderrText)
        XCTAssertTrue(try portal(["kiosk", "list"], state: state).stdoutText.hasPrefix("desk-1\trevoked "))
        XCTAssertEqual(try portal(["kiosk", "revoke", "desk-1"], state: state).stderrText, "dicom-portal: kiosk desk-1 is already revoked\n")
        XCTAssertEqual(try portal(["kiosk", "revoke", "nobody"], state: state).status, 1)

        // The audit chain: intact, then one record altered behind the triggers' back.
        let intact = try portal(["audit", "verify"], state: state)
        XCTAssertEqual(intact.status, 0, intact.stderrText)
        XCTAssertEqual(intact.stdoutText, "audit chain intact (5 records)\n")
        let database = try PortalDatabase(settings: cluster.settings)
        // Core copies the chain's head outside the database (here as its sweep would): a record cut from the end,
        // which leaves the chain itself intact, shows against it.
        try await AuditLog(database).anchor(to: AuditAnchors(path: state + "/audit-anchors"))
        try await database.client.query("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
        try await database.client.query("DELETE FROM audit WHERE seq = 5")
        let cut = try portal(["audit", "verify"], state: state)
        XCTAssertEqual(cut.status, 1)
        XCTAssertEqual(cut.stdoutText, "audit records were removed from the end: the chain ends at record 4, but record 5 was anchored outside the database\n")
        try await database.client.query("UPDATE audit SET actor = 'someone else' WHERE seq = 3")
        await database.shutdown()
        let altered = try portal(["audit", "verify"], state: state)
        XCTAssertEqual(altered.status, 1)
        XCTAssertEqual(altered.stdoutText, "audit record 3 was altered: its content does not match its hash\n")
    }

    /// Without a running private cluster a one-shot command starts it, does its work, and stops it again.
    func testAOneShotCommandStartsAndStopsThePrivateCluster() throws {
        let state = try temporaryDirectory()
        let added = try portal(["patient", "add", "--id", "P1", "--name", "Doe^John", "--birth-date", "19600101"], state: state)
        if added.stderrText.contains("initdb") && added.stderrText.contains("not") { throw XCTSkip("PostgreSQL is not installed") }
        XCTAssertEqual(added.status, 0, added.stderrText)
        // pg_ctl removes postmaster.pid when the server has stopped.
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/postgres/data/postmaster.pid"), "the cluster was left running")
        XCTAssertEqual(try portal(["patient", "list"], state: state).stdoutText, "P1\t\tDoe^John\t19600101\t\t\n")
    }
}
