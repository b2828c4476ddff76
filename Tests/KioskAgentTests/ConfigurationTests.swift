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
}
