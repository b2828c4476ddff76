import AgentConfiguration
import Foundation
import PortalConfiguration
import TestSupport
import XCTest

final class PortalConfigurationTests: XCTestCase {
    private var sampleURL: URL { TestSupport.packageRoot.appendingPathComponent("config/dicom-portal.toml") }

    /// The documented example IT copies parses to the defaults the code has.
    func testShippedExampleParsesToTheDefaults() throws {
        var expected = PortalConfiguration()
        expected.pipeline.destination = "archive:"
        XCTAssertEqual(try PortalConfiguration(contentsOf: sampleURL), expected)
    }

    /// The pipeline's tables mean what they mean on a kiosk; the kiosk's station tables and its root
    /// `destination` are not the portal's.
    func testPipelineTablesAndPortalTables() throws {
        let parsed = try PortalConfiguration(parsing: """
            [core]
            listen = "[::1]:9000"
            server_names = ["portal.hospital.example", "10.0.0.5"]
            [database]
            url = "postgres://portal@db.hospital.example:5432/portal?sslmode=verify-full"
            password_file = "/etc/dicom-portal/db.password"
            [delivery]
            destination = "dicom://PACS@pacs.hospital.example:104"
            calling_ae = "PORTAL1"
            [protector]
            icons = "keep"
            [reconciliation]
            enabled = false
            [worker]
            lease_seconds = 30
            concurrency = 2
            """)
        XCTAssertEqual(parsed.core.listen, "[::1]:9000")
        XCTAssertEqual(HostPort(parsed.core.listen), HostPort("[::1]:9000"))
        XCTAssertEqual(HostPort(parsed.core.listen)?.host, "::1")
        XCTAssertEqual(parsed.core.serverNames, ["portal.hospital.example", "10.0.0.5"])
        XCTAssertEqual(parsed.database.passwordFile, "/etc/dicom-portal/db.password")
        XCTAssertEqual(parsed.pipeline.destination, "dicom://PACS@pacs.hospital.example:104")
        XCTAssertEqual(parsed.pipeline.delivery.callingAE, "PORTAL1")
        XCTAssertEqual(parsed.pipeline.protector.icons, "keep")
        XCTAssertFalse(parsed.pipeline.reconciliation.enabled)
        XCTAssertEqual(parsed.worker.leaseSeconds, 30)
        XCTAssertEqual(parsed.worker.concurrency, 2)
        XCTAssertTrue(PortalConfiguration().pipeline.reconciliation.enabled, "the portal coerces to the registered patient by default")

        for (text, message) in [
            ("destination = \"archive:\"", "line 1: unknown key destination"),
            ("[kiosk]\neject = false", "line 1: unknown table [kiosk]"),
            ("[dashboard]\nport = 1", "line 1: unknown table [dashboard]"),
            ("[core]\nlisten = \"localhost\"", "line 2: core.listen must be \"HOST:PORT\" (an IPv6 address in brackets), port 1-65535"),
            ("[core]\nlisten = \"127.0.0.1:70000\"", "line 2: core.listen must be \"HOST:PORT\" (an IPv6 address in brackets), port 1-65535"),
            ("[core]\nserver_names = []", "line 2: core.server_names must name at least one host"),
            ("[core]\nserver_names = [\"*.example\"]", "line 2: core.server_names: \"*.example\" is not a host name or IP address"),
            ("\n[database]\nurl = \"postgres://portal:secret@db/portal\"",
             "line 3: database.url: the URL holds a password; put it alone in a file and name that file as database.password_file"),
            ("[database]\nurl = \"mysql://db/portal\"", "line 2: database.url must be a postgres://USER@HOST:PORT/DATABASE URL"),
            ("[worker]\nlease_seconds = 1", "line 2: worker.lease_seconds must be an integer in 5...3600"),
            ("[staging]\ndirectory = \"staging\"", "line 2: staging.directory: \"staging\" is not an absolute path"),
            ("[delivery]\ncalling_ae = \"A\\\\B\"", "line 2: delivery.calling_ae: escapes and quotes inside strings are not supported"),
        ] {
            XCTAssertThrowsError(try PortalConfiguration(parsing: text), text) { error in
                XCTAssertEqual("\(error)", message, text)
            }
        }
    }

    /// The defaults written out read back to themselves: every default lies within its own key's checks.
    func testTableDefaultsReadBack() throws {
        let settings = PortalConfiguration.settings
        let names = settings.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "a key listed twice")
        var text = ""
        var tables: [String] = []
        for setting in settings where !tables.contains(setting.table) { tables.append(setting.table) }
        for table in tables {
            text += "[\(table)]\n"
            for setting in settings where setting.table == table {
                if let value = setting.documentedDefault { text += "\(setting.key) = \(value)\n" }
            }
        }
        let parsed = try PortalConfiguration(parsing: text)
        for setting in settings { XCTAssertEqual(setting.value(in: parsed), setting.documentedDefault, setting.name) }
    }

    /// `config/dicom-portal.toml` names every key once and no other, states each default, and gives a
    /// parsing example (commented out) for each key unset by default.
    func testSampleFileDocumentsEveryKeyWithItsDefault() throws {
        let sample = try String(contentsOf: sampleURL, encoding: .utf8)
        let parsed = try PortalConfiguration(contentsOf: sampleURL)
        let settings = Dictionary(uniqueKeysWithValues: PortalConfiguration.settings.map { ($0.name, $0) })
        let header = try Regex(#"^\[([a-z_]+)\]"#)
        let assignment = try Regex(#"^(#\s*)?([a-z_]+)\s*=\s*(.*)$"#)
        var table = ""
        var documented: [String: Int] = [:]
        for (index, rawLine) in sample.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let content = rawLine.trimmingCharacters(in: .whitespaces)
            if let match = content.wholeMatch(of: header), let name = match.output[1].substring {
                table = String(name)
                continue
            }
            guard let match = content.wholeMatch(of: assignment), let key = match.output[2].substring,
                  let value = match.output[3].substring else { continue }
            let name = table.isEmpty ? String(key) : "\(table).\(key)"
            guard let setting = settings[name] else {
                XCTFail("line \(line): \(name) is not in PortalConfiguration.settings")
                continue
            }
            if let earlier = documented.updateValue(line, forKey: name) { XCTFail("line \(line): \(name) already appears on line \(earlier)") }
            if match.output[1].substring != nil {
                XCTAssertNil(setting.documentedDefault, "line \(line): \(name) has a default; the sample must state it")
                XCTAssertNoThrow(try PortalConfiguration(parsing: "[\(table)]\n\(key) = \(value)"), "line \(line): the example for \(name) does not parse")
            } else {
                XCTAssertEqual(setting.value(in: parsed) ?? "unset", setting.documentedDefault ?? "unset", "line \(line): \(name)")
            }
        }
        for setting in PortalConfiguration.settings where documented[setting.name] == nil {
            XCTFail("\(setting.name) is missing from config/dicom-portal.toml")
        }
    }
}
