import AgentConfiguration
import TestSupport
import XCTest
@testable import IngestPipeline
@testable import KioskAgent
@testable import KioskStation

final class ConfigurationTests: XCTestCase {
    func testParsesKnownKeys() throws {
        let config = try Configuration(parsing: """
            # kiosk at front desk 2
            destination = "archive:/srv/archive"   # comment
            [limits]
            max_file_size = 1_073_741_824
            max_nesting_depth = 32
            [ingest]
            workers = 2
            """)
        XCTAssertEqual(config.destination, "archive:/srv/archive")
        XCTAssertEqual(config.maxFileSize, 1 << 30)
        XCTAssertEqual(config.maxNestingDepth, 32)
        XCTAssertEqual(config.workers, 2)
    }

    func testEnginesPolicyAndPACSProfile() throws {
        let config = try Configuration(parsing: """
            [engines]
            signatures = ["/usr/share/kiosk-agent/signatures", "/var/lib/clamav"]
            clamd_socket = "/run/clamav/clamd.ctl"
            icap = "icap://av.hospital.example:1344/avscan"
            timeout_seconds = 30
            [protector]
            keep_private_creators = ["SIEMENS CSA HEADER",
                                     "GEMS_IDEN_01",   # multi-line arrays, comments inside
            ]
            icons = "keep"
            documents = "reject"
            missing_uids = "reject"
            active_documents = "drop"
            [pacs]
            sop_classes = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]
            transfer_syntaxes = ["1.2.840.10008.1.2.1"]
            strict_uids = true
            [reconciliation]
            enabled = true
            issuer_of_patient_id = "HOSPITAL-A"
            """)
        XCTAssertEqual(config.engines.signatures, ["/usr/share/kiosk-agent/signatures", "/var/lib/clamav"])
        XCTAssertEqual(config.engines.clamdSocket, "/run/clamav/clamd.ctl")
        XCTAssertEqual(ICAPAddress(config.engines.icap ?? ""), ICAPAddress("icap://av.hospital.example:1344/avscan"))
        XCTAssertEqual(ICAPAddress("icap://gw/scan")?.port, 1344)
        XCTAssertEqual(config.protector.keepPrivateCreators, ["SIEMENS CSA HEADER", "GEMS_IDEN_01"])
        XCTAssertEqual(config.protector.icons, "keep")
        XCTAssertEqual(config.protector.documents, "reject")
        XCTAssertEqual(config.protector.missingUIDs, "reject")
        XCTAssertTrue(config.pacsStrictUIDs)
        XCTAssertEqual(Configuration().protector.missingUIDs, "repair", "repair is the default")
        XCTAssertEqual(config.protector.activeDocuments, "drop")
        XCTAssertEqual(ProtectorSetup.policy(config, reconciliation: nil).activeDocuments, .drop)
        XCTAssertEqual(ProtectorSetup.policy(Configuration(), reconciliation: nil).activeDocuments, .reject)
        XCTAssertEqual(config.pacsSOPClasses?.count, 2)
        XCTAssertEqual(config.pacsTransferSyntaxes, ["1.2.840.10008.1.2.1"])
        XCTAssertTrue(config.reconciliation.enabled)
        XCTAssertEqual(config.reconciliation.issuerOfPatientID, "HOSPITAL-A")
    }

    /// The documented example IT copies must parse, and say the defaults the code has.
    func testShippedExampleParsesToTheDefaults() throws {
        let example = try Configuration(contentsOf: TestSupport.packageRoot.appendingPathComponent("config/kiosk-agent.toml"))
        var expected = Configuration()
        expected.destination = "archive:"
        XCTAssertEqual(example, expected)
    }

    func testPortalKeys() throws {
        let parsed = try Configuration(parsing: """
            destination = "portal+https://portal.hospital.example:8480"
            [portal]
            certificate = "/etc/kiosk-agent/portal/kiosk.crt"
            key = "/etc/kiosk-agent/portal/kiosk.key"
            ca_file = "/etc/kiosk-agent/portal/portal-ca.crt"
            """)
        XCTAssertEqual(parsed.portal.certificateFile, "/etc/kiosk-agent/portal/kiosk.crt")
        XCTAssertEqual(parsed.portal.keyFile, "/etc/kiosk-agent/portal/kiosk.key")
        XCTAssertEqual(parsed.portal.caFile, "/etc/kiosk-agent/portal/portal-ca.crt")
        XCTAssertEqual(Configuration().portal, Configuration.PortalSettings())
        XCTAssertThrowsError(try Configuration(parsing: "[portal]\nkey = \"kiosk.key\"")) { error in
            XCTAssertEqual("\(error)", "line 2: portal.key: \"kiosk.key\" is not an absolute path")
        }
    }

    func testDeliveryTLSAndDICOMwebKeys() throws {
        let parsed = try Configuration(parsing: """
            [delivery]
            calling_ae = "FRONTDESK1"
            associations = 8
            wait_seconds = 0
            retry_base_seconds = 2
            reserve_bytes = 1_048_576
            [tls]
            ca_file = "/etc/kiosk-agent/ca.pem"
            verify_hostname = false
            [dicomweb]
            bearer_token_file = "/etc/kiosk-agent/token"
            batch_bytes = 1_048_576
            """)
        XCTAssertEqual(parsed.delivery.callingAE, "FRONTDESK1")
        XCTAssertEqual(parsed.delivery.associations, 8)
        XCTAssertEqual(parsed.delivery.waitSeconds, 0)
        XCTAssertEqual(parsed.delivery.retryBaseSeconds, 2)
        XCTAssertEqual(parsed.delivery.reserveBytes, 1 << 20)
        XCTAssertEqual(parsed.tls.caFile, "/etc/kiosk-agent/ca.pem")
        XCTAssertFalse(parsed.tls.verifyHostname)
        XCTAssertEqual(parsed.dicomweb.bearerTokenFile, "/etc/kiosk-agent/token")
        XCTAssertEqual(parsed.dicomweb.batchBytes, 1 << 20)
    }

    func testDestinationURLs() throws {
        let state = StateDirectory(URL(fileURLWithPath: "/var/lib/kiosk-agent"))
        XCTAssertEqual(try Destination(parsing: "dicom://PACS@10.0.0.5:11112", stateDirectory: state),
                       .dicom(.init(calledAE: "PACS", host: "10.0.0.5", port: 11112, tls: false, url: "dicom://PACS@10.0.0.5:11112")))
        XCTAssertEqual(try Destination(parsing: "dicoms://MAIN%20PACS@pacs.hospital.example", stateDirectory: state),
                       .dicom(.init(calledAE: "MAIN PACS", host: "pacs.hospital.example", port: 2762, tls: true,
                                    url: "dicoms://MAIN%20PACS@pacs.hospital.example")))
        XCTAssertEqual(try Destination(parsing: "dicom://PACS@[::1]:104", stateDirectory: state),
                       .dicom(.init(calledAE: "PACS", host: "::1", port: 104, tls: false, url: "dicom://PACS@[::1]:104")))
        guard case let .dicomweb(base, _) = try Destination(parsing: "dicomweb+https://pacs:8443/dicom-web", stateDirectory: state) else {
            return XCTFail("dicomweb")
        }
        XCTAssertEqual(base.absoluteString, "https://pacs:8443/dicom-web")
        for bad in ["dicom://10.0.0.5:104", "dicom://PACS@host:99999", "dicom://TOO-LONG-AE-TITLE-X@h:104",
                    "dicomweb+http://user:pw@pacs/dicom-web", "ftp://pacs", "dicom://PACS@:104"] {
            XCTAssertThrowsError(try Destination(parsing: bad, stateDirectory: state), bad)
        }
    }

    func testErrorsNameTheKeyAndLine() {
        let cases: [(String, String)] = [
            ("[limits]\nmax_fiel_size = 3", "line 2: unknown key limits.max_fiel_size"),
            ("[limit]", "line 1: unknown table [limit]"),
            ("[limits]\nmax_nesting_depth = 0", "line 2: limits.max_nesting_depth must be an integer in 1...1024"),
            ("destination = archive", "line 1: destination must be a quoted string"),
            ("[ingest]\nworkers = 1\nworkers = 2", "line 3: ingest.workers set twice"),
            ("just words", "line 1: expected key = value"),
            ("[protector]\nicons = \"hide\"", "line 2: protector.icons must be \"keep\", \"drop\" or \"reject\""),
            ("[protector]\nmissing_uids = \"drop\"", "line 2: protector.missing_uids must be \"repair\" or \"reject\""),
            ("[pacs]\nstrict_uids = \"yes\"", "line 2: pacs.strict_uids must be true or false"),
            ("[protector]\n\nactive_documents = \"keep\"", "line 3: protector.active_documents must be \"reject\" or \"drop\""),
            ("[pacs]\nsop_classes = [\"1.2.x\"]", "line 2: pacs.sop_classes: \"1.2.x\" is not a UID"),
            ("[engines]\nicap = \"http://gw/scan\"", "line 2: engines.icap must look like icap://HOST[:PORT]/SERVICE"),
            ("[engines]\nclamav = yes", "line 2: engines.clamav must be true or false"),
            ("[engines]\nsignatures = [\"/a\",\n", "line 2: engines.signatures: the array is not closed with ]"),
            ("[delivery]\ncalling_ae = \"A\\\\B\"", "line 2: delivery.calling_ae: escapes and quotes inside strings are not supported"),
            ("[delivery]\ncalling_ae = \"SEVENTEEN-CHARS-X\"", "line 2: delivery.calling_ae must be 1-16 characters, no backslash or control characters"),
            ("[delivery]\nassociations = 0", "line 2: delivery.associations must be an integer in 1...32"),
            ("[tls]\nverify_hostname = 1", "line 2: tls.verify_hostname must be true or false"),
            ("[dicomweb]\npassword = \"x\"", "line 2: unknown key dicomweb.password"),
            ("[sandbox]\nstall_seconds = 0", "line 2: sandbox.stall_seconds must be an integer in 1...86400"),
            ("[sandbox]\nmemory_bytes = 1024", "line 2: sandbox.memory_bytes must be an integer in 268435456...1099511627776"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try Configuration(parsing: text)) { error in
                XCTAssertEqual("\(error)", expected)
            }
        }
    }

    func testMalformedFilesAreNamedNotMisread() throws {
        let cases: [(String, String)] = [
            ("[ingest]\nworkers = 2\u{0}", "line 2: control character U+0000 (only tab is allowed)"),
            ("[kiosk]\r\neject = false\rinclude_loop_devices = true", "line 2: control character U+000D (only tab is allowed)"),
            ("[ ]", "line 1: malformed table header"),
            ("[limits", "line 1: malformed table header"),
            ("[ingest]\n= 3", "line 2: expected key = value (no key before =)"),
            ("limits.max_entries = 3", "line 1: unknown key limits.max_entries"),
            ("[tls]\nca_file = \"ca.pem\"", "line 2: tls.ca_file: \"ca.pem\" is not an absolute path"),
            ("[engines]\nsignatures = [\"/a\", \"\"]", "line 2: engines.signatures: \"\" is not an absolute path"),
            ("[engines]\nsignatures = [\"/a\",, \"/b\"]", "line 2: engines.signatures has an empty entry"),
            ("[protector]\nkeep_private_creators = \"GEMS\"", "line 2: protector.keep_private_creators must be an array of quoted strings"),
            ("[delivery]\nretry_base_seconds = 2.5", "line 2: delivery.retry_base_seconds must be an integer in 1...3600"),
            ("[dashboard]\nport = 99999999999999999999999", "line 2: dashboard.port must be an integer in 1...65535"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try Configuration(parsing: text), expected) { error in
                XCTAssertEqual("\(error)", expected)
            }
        }
        // Windows line ends and byte-order mark: read, not silently ignored as one long comment line.
        let windows = try Configuration(parsing: "\u{FEFF}# front desk\r\n[ingest]\r\nworkers = 2\r\n[protector]\r\nkeep_private_creators = [\"A, B\",\r\n  \"C\"]\r\n")
        XCTAssertEqual(windows.workers, 2)
        XCTAssertEqual(windows.protector.keepPrivateCreators, ["A, B", "C"], "a comma inside quotes belongs to the entry")
    }

    /// Every key, given a value no kind accepts, fails with its own name and line, never a crash;
    /// values of another kind either fit or fail the same way.
    func testEveryKeyNamesItselfOnBadValues() {
        let neverValid = ["", "@", "\"", "1.5", "\"x\" \"y\"", "[1, 2]", "99999999999999999999", "[\"/a\""]
        let otherKinds = ["true", "0", "-1", "7", "\"text\"", "\"/abs\"", "[\"/abs\"]", "[]", "\"1.2.3\""]
        for setting in Configuration.settings {
            let header = setting.table.isEmpty ? "\n\n" : "[\(setting.table)]\n\n"
            for value in neverValid + otherKinds {
                do {
                    _ = try Configuration(parsing: "\(header)\(setting.key) = \(value)\n")
                    XCTAssertFalse(neverValid.contains(value), "\(setting.name) accepted \(value)")
                } catch let error as Configuration.Error {
                    XCTAssertEqual(error.line, 3, "\(setting.name) = \(value): \(error)")
                    XCTAssertTrue(error.message.hasPrefix("\(setting.name) ") || error.message.hasPrefix("\(setting.name):"),
                                  "\(setting.name) = \(value): \(error)")
                } catch {
                    XCTFail("\(setting.name) = \(value): \(error)")
                }
            }
        }
    }

    /// The table's defaults, written out as a file, read back to the defaults: every default
    /// lies within its own key's checks, and no key is listed twice.
    func testTableDefaultsReadBack() throws {
        let names = Configuration.settings.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "a key listed twice")
        var text = ""
        for table in Configuration.settings.map(\.table).uniqued() {
            if !table.isEmpty { text += "[\(table)]\n" }
            for setting in Configuration.settings where setting.table == table {
                if let value = setting.documentedDefault { text += "\(setting.key) = \(value)\n" }
            }
        }
        let parsed = try Configuration(parsing: text)
        for setting in Configuration.settings {
            XCTAssertEqual(setting.value(in: parsed), setting.documentedDefault, setting.name)
        }
    }

    /// `config/kiosk-agent.toml` is the documentation IT reads: it names every key of the table
    /// and no other, states each default as the table has it, and an example (commented out)
    /// for each key that is unset by default.
    func testSampleFileDocumentsEveryKeyWithItsDefault() throws {
        let sampleURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/kiosk-agent.toml")
        let sample = try String(contentsOf: sampleURL, encoding: .utf8)
        let parsed = try Configuration(contentsOf: sampleURL)
        let settings = Dictionary(uniqueKeysWithValues: Configuration.settings.map { ($0.name, $0) })
        // `key = value` or `# key = value`, under the last `[table]`.
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
            let commented = match.output[1].substring != nil
            let name = table.isEmpty ? String(key) : "\(table).\(key)"
            guard let setting = settings[name] else {
                XCTFail("line \(line): \(name) is not in Configuration.settings")
                continue
            }
            if let earlier = documented.updateValue(line, forKey: name) {
                XCTFail("line \(line): \(name) already appears on line \(earlier)")
            }
            if commented {
                XCTAssertNil(setting.documentedDefault, "line \(line): \(name) has a default; the sample must state it, not comment it out")
                let example = (table.isEmpty ? "" : "[\(table)]\n") + "\(key) = \(value)"
                XCTAssertNoThrow(try Configuration(parsing: example), "line \(line): the example for \(name) does not parse")
            } else {
                XCTAssertEqual(setting.value(in: parsed) ?? "unset", setting.documentedDefault ?? "unset",
                               "line \(line): \(name) in the sample differs from the table's default")
            }
        }
        for setting in Configuration.settings where documented[setting.name] == nil {
            XCTFail("\(setting.name) is missing from config/kiosk-agent.toml")
        }
    }
}

private extension Sequence where Element: Hashable {
    /// The elements in their first order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
