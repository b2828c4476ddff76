// swift-tools-version:6.2
import PackageDescription

// Layout: Sources/<Module> per architecture module (../shared/ARCHITECTURE.md §2);
// Sources/Core/CSystem/<C…> are system-library wrappers (module.modulemap + shim.h only).
// Every target of this package builds with warnings as errors (a warning can hide a bug, e.g. a
// `where` that guards only the last pattern of a `case`). SwiftPM applies a package's settings to
// its own targets only, and builds remote dependencies with their warnings suppressed.
let warningsAsErrors: [SwiftSetting] = [.treatAllWarnings(as: .error)]
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")] + warningsAsErrors

let package = Package(
    name: "kiosk-agent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kiosk-agent", targets: ["KioskAgent"]),
        .executable(name: "dicom-portal", targets: ["DicomPortal"]),
        .executable(name: "PortalBench", targets: ["PortalBench"]),
        // One product per parser module, for the libFuzzer targets in fuzz/ (a separate package built
        // with sanitizers): each fuzz target links only the module it fuzzes and what that needs.
        .library(name: "DICOMCore", targets: ["DICOMCore"]),
        .library(name: "MediaReader", targets: ["MediaReader"]),
        .library(name: "DICOMNetwork", targets: ["DICOMNetwork"]),
        .library(name: "Delivery", targets: ["Delivery"]),
        .library(name: "Protector", targets: ["Protector"]),
        .library(name: "FileSignatures", targets: ["FileSignatures"]),
        .library(name: "AgentConfiguration", targets: ["AgentConfiguration"]),
        .library(name: "HelperProtocol", targets: ["HelperProtocol"]),
        .library(name: "WebAuthn", targets: ["WebAuthn"]),
        .library(name: "Mail", targets: ["Mail"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C libraries (Debian -dev packages installed by scripts/install-deps).
        .systemLibrary(name: "CCdio", path: "Sources/Core/CSystem/CCdio", pkgConfig: "libiso9660"),
        .systemLibrary(name: "CBlkid", path: "Sources/Core/CSystem/CBlkid", pkgConfig: "blkid"),
        .systemLibrary(name: "CZlib", path: "Sources/Core/CSystem/CZlib", pkgConfig: "zlib"),
        .systemLibrary(name: "CUdev", path: "Sources/Core/CSystem/CUdev", pkgConfig: "libudev"),
        .systemLibrary(name: "CClamAV", path: "Sources/Core/CSystem/CClamAV", pkgConfig: "libclamav"),
        .systemLibrary(name: "CNcurses", path: "Sources/Core/CSystem/CNcurses", pkgConfig: "ncursesw"),
        // glibc calls Swift's Glibc module does not export (needs _GNU_SOURCE).
        .systemLibrary(name: "CLinux", path: "Sources/Core/CSystem/CLinux"),

        // The one owner of file descriptors and the EINTR rule (swift-system underneath).
        .target(name: "POSIX", dependencies: [.product(name: "SystemPackage", package: "swift-system")], path: "Sources/Core/POSIX", swiftSettings: strict),

        // Pure-Swift DICOM codec: no C, no NIO.
        .target(name: "DICOMCore", path: "Sources/Core/DICOMCore", swiftSettings: strict),
        // Regenerates Sources/Core/DICOMCore/Dictionary/{DataDictionary,TagKeywords}+Generated.swift from dicom.dic.
        .executableTarget(name: "GenerateDictionary", path: "Sources/Core/GenerateDictionary", swiftSettings: strict),

        // Removable media without mounting: probing, ISO9660/UDF (libcdio), FAT/exFAT (Swift), directories, ZIP archives (zlib).
        .target(name: "MediaReader", dependencies: ["CCdio", "CBlkid", "CZlib", "POSIX"], path: "Sources/1-Media/MediaReader", swiftSettings: strict),

        // Magic numbers of programs, shared by media classification and DICOM part inspection.
        .target(name: "FileSignatures", path: "Sources/Core/FileSignatures", swiftSettings: strict),

        // The agent's configuration file (a TOML subset): its own module so the config parser can be fuzzed.
        .target(name: "AgentConfiguration", dependencies: ["DICOMCore"], path: "Sources/Core/AgentConfiguration", swiftSettings: strict),

        // The session report contract (ARCHITECTURE.md §3.2): findings, verdicts, totals.
        .target(name: "SessionReport", path: "Sources/6-Records/SessionReport", swiftSettings: strict),

        // Finding the studies on a volume: content classification, DICOMDIR vs. media walk.
        .target(name: "Intake", dependencies: ["DICOMCore", "MediaReader", "SessionReport", "FileSignatures"], path: "Sources/2-Intake/Intake", swiftSettings: strict),

        // Per-file inspection and rebuild of DICOM files.
        .target(name: "Protector", dependencies: ["DICOMCore", "SessionReport", "FileSignatures", "POSIX", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/3-Protection/Protector", swiftSettings: strict),

        // libclamav as a MalwareEngine: the only module that links libclamav, so the parsers and the
        // helper's wire format can be fuzzed without it.
        .target(name: "LibClamAV", dependencies: ["Protector", "DICOMCore", "CClamAV"], path: "Sources/3-Protection/LibClamAV", swiftSettings: strict),

        // The DICOM upper layer (PS3.8) and DIMSE C-ECHO/C-STORE SCU on SwiftNIO, with TLS.
        .target(name: "DICOMNetwork", dependencies: [
            "DICOMCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Sources/5-Delivery/DICOMNetwork", swiftSettings: strict),

        // Destinations: the embedded archive, the durable spool, C-STORE and STOW-RS senders, the portal (tus over mTLS).
        .target(name: "Delivery", dependencies: [
            "DICOMCore", "DICOMNetwork", "SessionReport", "CLinux", "POSIX", "PortalProtocol", "PortalPKI",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Sources/5-Delivery/Delivery", swiftSettings: strict),

        // The media helper's sandbox: resource limits, Landlock and seccomp (issue 7, part 2).
        .target(name: "Sandbox", dependencies: ["CLinux", "POSIX"], path: "Sources/Core/Sandbox", swiftSettings: strict),

        // The framed pipe protocol between the agent and its media helper (the agent parses what an
        // exploited helper could send: fuzzed like every other parser).
        .target(name: "HelperProtocol", dependencies: ["MediaReader", "Protector", "Sandbox", "SessionReport", "POSIX"], path: "Sources/4-Admission/HelperProtocol", swiftSettings: strict),

        // The anti-malware engines in a sandboxed process of their own (`kiosk-agent scanner`), and
        // the agent's client of it: the agent never runs an engine on hostile content itself.
        .target(name: "Scanner", dependencies: ["DICOMCore", "Protector", "LibClamAV", "HelperProtocol", "Sandbox", "CLinux", "POSIX"],
                path: "Sources/3-Protection/Scanner", swiftSettings: strict),

        // Media inserted and removed (libudev monitor) and optical drive control (libcdio): never mounts.
        .target(name: "MediaEvents", dependencies: ["CUdev", "CCdio", "POSIX"], path: "Sources/1-Media/MediaEvents", swiftSettings: strict),

        // The tamper-evident audit trail: hash-chained JSON lines with Ed25519 checkpoints.
        .target(name: "AuditTrail", dependencies: ["DICOMCore", "POSIX", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/6-Records/AuditTrail", swiftSettings: strict),

        // IHE ATNA: the audit trail's events as DICOM PS3.15 Annex A messages over RFC 5424 syslog (TLS or UDP).
        .target(name: "ATNA", dependencies: [
            "AuditTrail", "SessionReport", "POSIX",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Sources/6-Records/ATNA", swiftSettings: strict),

        // The session receipt (self-contained HTML and receipt-printer text) and its lookup code.
        .target(name: "SessionReceipt", dependencies: ["SessionReport"], path: "Sources/6-Records/SessionReceipt", swiftSettings: strict),

        // Scan analytics: per-session summaries without patient data, and their aggregation.
        .target(name: "Analytics", dependencies: ["SessionReport", "POSIX"], path: "Sources/6-Records/Analytics", swiftSettings: strict),

        // The read-only dashboard on localhost (Hummingbird) and Prometheus metrics.
        .target(name: "Dashboard", dependencies: [
            "Analytics", "SessionReport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Station/Dashboard", swiftSettings: strict),

        // The operator screen: the only module that imports ncurses.
        .target(name: "OperatorScreen", dependencies: ["CNcurses"], path: "Sources/Station/OperatorScreen", swiftSettings: strict),

        // What people sign in with, shared by operators and patients: passwords (NIST SP 800-63B rules, a
        // common-password list, scrypt), TOTP, recovery codes, single-use tokens; the key sealing secrets at rest.
        .target(name: "Credentials", dependencies: [
            "POSIX",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], path: "Sources/Core/Credentials", swiftSettings: strict),

        // Operators: PIN (scrypt) + TOTP sign-in, lockout, provisioning.
        .target(name: "OperatorAccess", dependencies: [
            "POSIX", "Credentials",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Sources/Station/OperatorAccess", swiftSettings: strict),

        // The pipeline both products run: the media helper (its process side and the agent's side of
        // the conversation), admission, the session and its report, and the setup of engines and
        // destinations from the configuration. "Run this medium through the pipeline, deliver to
        // this sink, give me the report."
        .target(name: "IngestPipeline", dependencies: [
            "DICOMCore", "MediaReader", "Intake", "Protector", "LibClamAV", "Delivery", "DICOMNetwork", "SessionReport", "AuditTrail", "ATNA",
            "SessionReceipt", "Analytics", "Sandbox", "AgentConfiguration", "HelperProtocol", "CLinux", "Scanner", "POSIX", "PortalProtocol", "PortalPKI",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Sources/4-Admission/IngestPipeline", swiftSettings: strict),

        // The front-desk station: the kiosk service (media events → sessions → screen), its session
        // state machine, the screen controller, systemd notification.
        .target(name: "KioskStation", dependencies: [
            "IngestPipeline", "DICOMCore", "MediaReader", "Intake", "Protector", "Delivery", "SessionReport", "AuditTrail", "SessionReceipt",
            "Dashboard", "Analytics", "ATNA", "MediaEvents", "OperatorAccess", "Credentials", "OperatorScreen", "AgentConfiguration", "HelperProtocol", "POSIX",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Station/KioskStation", swiftSettings: strict),

        // The `kiosk-agent` executable: commands and wiring only.
        .executableTarget(name: "KioskAgent", dependencies: [
            "IngestPipeline", "KioskStation",
            "DICOMCore", "MediaReader", "SessionReport", "Intake", "Protector", "Delivery", "OperatorAccess", "Credentials", "AuditTrail",
            "ATNA", "Analytics", "Dashboard", "AgentConfiguration", "Scanner",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Products/KioskAgent", swiftSettings: strict),

        // The portal's uploads: a tus 1.0.0 server (Hummingbird) over an AES-GCM staging store and an upload
        // registry, both behind small protocols (files now; core backs the registry with PostgreSQL).
        .target(name: "Uploads", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
            "POSIX",
        ], path: "Sources/Portal/Uploads", swiftSettings: strict),
        // The portal's system of record and work queue: PostgreSQL (a private cluster or a shared server),
        // migrations, jobs under leases, the hash-chained audit table.
        .target(name: "PortalStore", dependencies: [
            "Credentials", "PortalProtocol", "Analytics",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            "POSIX",
        ], path: "Sources/Portal/PortalStore", swiftSettings: strict),
        // What core and kiosks say to each other: API paths and headers, the signed session manifest.
        .target(name: "PortalProtocol", dependencies: [
            "SessionReport",
            .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Sources/Portal/PortalProtocol", swiftSettings: strict),
        // dicom-portal's configuration file: the pipeline's tables as the kiosk names them, plus the portal's own.
        .target(name: "PortalConfiguration", dependencies: ["AgentConfiguration"], path: "Sources/Portal/PortalConfiguration", swiftSettings: strict),
        // `dicom-portal worker`: committed batches off the queue, through the pipeline, against the registered patient.
        .target(name: "PortalWorker", dependencies: [
            "PortalStore", "PortalProtocol", "PortalConfiguration", "Uploads", "IngestPipeline", "AgentConfiguration", "Protector",
            "SessionReport", "Delivery", "POSIX", "Analytics", "PortalMetrics",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Portal/PortalWorker", swiftSettings: strict),
        // The `dicom-portal` executable: commands and wiring only.
        .executableTarget(name: "DicomPortal", dependencies: [
            "Mail", "PortalWorker", "PortalCore", "PortalEdge", "PortalConsole", "PortalMetrics", "PortalStore", "PortalPKI", "PortalConfiguration", "Uploads", "IngestPipeline", "AgentConfiguration",
            "Scanner", "Protector",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Products/DicomPortal", swiftSettings: strict),
        // bench/portal-queue and bench/portal-upload run the portal's parts through this command.
        .executableTarget(name: "PortalBench", dependencies: [
            "PortalStore", "Uploads",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Portal/PortalBench", swiftSettings: strict),

        // The portal's own certificate authority for kiosks' mutual TLS: the CA, the core's server certificate,
        // kiosk client certificates, and the handshake verifier that honours revocation at once.
        .target(name: "PortalPKI", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            "POSIX",
        ], path: "Sources/Portal/PortalPKI", swiftSettings: strict),

        // The portal's core server for kiosks: mutual TLS checked by KioskVerifier (revocation from the kiosks table),
        // tus uploads staged with each batch's key, the signed session manifest and the commit rule, as a Service.
        .target(name: "PortalCore", dependencies: [
            "PortalStore", "Uploads", "PortalPKI", "PortalProtocol", "SessionReport", "SessionReceipt", "Mail", "Analytics",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], path: "Sources/Portal/PortalCore", swiftSettings: strict),

        // WebAuthn relying party: registration (attestation "none") and assertion checks over a bounded CBOR/COSE
        // decoder, ES256 and RS256 (swift-crypto). No patient data, no I/O: fuzzed like every other parser.
        .target(name: "WebAuthn", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], path: "Sources/Portal/WebAuthn", swiftSettings: strict),

        // E-mail through the hospital's relay: an SMTP client on SwiftNIO (STARTTLS or TLS, AUTH, dot-stuffing) and
        // the RFC 5322 message it sends.
        .target(name: "Mail", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Portal/Mail", swiftSettings: strict),

        // `dicom-portal edge`: the patient site in the DMZ. Its own store (SQLite) of accounts, second factors,
        // sessions and uploads; tus into its own encrypted staging; pages and the browser's JavaScript modules
        // (Web/); the sync API core pulls uploads from and pushes invitations and results to, over mutual TLS.
        .target(name: "PortalEdge", dependencies: [
            "Uploads", "PortalPKI", "PortalProtocol", "Credentials", "WebAuthn", "WebSecurity", "POSIX", "PortalMetrics",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Portal/PortalEdge", resources: [.copy("Web")], swiftSettings: strict),

        // What the portal's two browser sites (patients' edge, staff console) share: refusals as JSON, bounded JSON
        // bodies, the session cookie, the security headers and CSRF rules, the pages served from memory, the passkey answers.
        .target(name: "WebSecurity", dependencies: [
            "PortalProtocol", "WebAuthn",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            "Credentials",
        ], path: "Sources/Portal/WebSecurity", swiftSettings: strict),

        // Prometheus metrics: the plain-HTTP listener of `[core|worker|edge] metrics_listen`, and the counters workers and
        // the edge keep (core's are read from the database, in PortalCore).
        .target(name: "PortalMetrics", dependencies: [
            "SessionReport",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Portal/PortalMetrics", swiftSettings: strict),

        // The admin console, served by core on its own listener: staff accounts with roles (passkey, TOTP fallback),
        // patients and invitations, the review queue of held batches, fleet-wide scan analytics with server-drawn
        // SVG charts and CSV, the audit search, chain verification and per-patient access report. Pages in Web/.
        .target(name: "PortalConsole", dependencies: [
            "PortalStore", "PortalProtocol", "PortalPKI", "Credentials", "WebAuthn", "WebSecurity", "Analytics", "SessionReport", "ATNA",
            "PortalCore", "Mail",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], path: "Sources/Portal/PortalConsole", resources: [.copy("Web")], swiftSettings: strict),

        // Test helpers shared by the test targets: tool runner, pydicom test data, temp dirs.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: warningsAsErrors),
        .testTarget(name: "DICOMCoreTests", dependencies: ["DICOMCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MediaReaderTests", dependencies: ["MediaReader", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ProtectorTests", dependencies: ["Protector", "LibClamAV", "SessionReport", "FileSignatures", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DeliveryTests", dependencies: ["Delivery", "DICOMNetwork", "DICOMCore", "TestSupport",
                                                      .product(name: "Crypto", package: "swift-crypto"),
                                                      .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
        .testTarget(name: "DICOMNetworkTests", dependencies: ["DICOMNetwork", "DICOMCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MediaEventsTests", dependencies: ["MediaEvents", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AuditTrailTests", dependencies: ["AuditTrail", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SessionReceiptTests", dependencies: ["SessionReceipt", "SessionReport", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ATNATests", dependencies: ["ATNA", "AuditTrail", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "OperatorAccessTests", dependencies: ["OperatorAccess", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CredentialsTests", dependencies: ["Credentials", "TestSupport"], swiftSettings: strict),
        // Registrations and assertions made by PyPI's fido2 (scripts/fetch-test-data) checked here, and ours checked there.
        .testTarget(name: "WebAuthnTests", dependencies: ["WebAuthn", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                                                     .product(name: "_CryptoExtras", package: "swift-crypto")],
                    swiftSettings: strict),
        // The SMTP client against aiosmtpd (PyPI) on a loopback port: plain, STARTTLS, TLS, AUTH, refusals.
        // The edge in-process over HTTPS: sessions, CSRF, enrolment, sign-in, lockout, uploads and the link, as a browser and core use them.
        .testTarget(name: "PortalEdgeTests", dependencies: [
            "PortalEdge", "PortalPKI", "Credentials", "TestSupport", "PortalCore", "PortalStore", "PortalTestSupport",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        .testTarget(name: "MailTests", dependencies: ["Mail", "TestSupport", .product(name: "NIOSSL", package: "swift-nio-ssl")], swiftSettings: strict),
        .target(name: "PortalTestSupport", dependencies: [
            "PortalStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Tests/PortalTestSupport", swiftSettings: strict),
        .testTarget(name: "PortalStoreTests", dependencies: ["PortalStore", "PortalTestSupport", "Credentials", .product(name: "Crypto", package: "swift-crypto")], path: "Tests/PortalStoreTests", swiftSettings: strict),
        .testTarget(name: "IntakeTests", dependencies: ["Intake", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "KioskAgentTests", dependencies: [
            "KioskAgent", "IngestPipeline", "KioskStation", "DICOMCore", "SessionReport", "TestSupport", "Delivery", .product(name: "Crypto", package: "swift-crypto"), "CUdev", "AuditTrail", "CClamAV", "CNcurses", "OperatorAccess", "Credentials", "OperatorScreen", "AgentConfiguration",
            "HelperProtocol", "MediaReader", "Protector", "LibClamAV", "Scanner", "CLinux",
        ], swiftSettings: strict),
        // A real server on a loopback port, raw HTTP for every status, and tuspy (scripts/fetch-test-data) as the
        // independent client.
        .testTarget(name: "UploadsTests", dependencies: [
            "TestSupport",
            "Uploads",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Tests/UploadsTests", swiftSettings: strict),
        // dicom-portal's configuration and commands, run as the executable against a private cluster.
        .testTarget(name: "DicomPortalTests", dependencies: [
            "TestSupport", "PortalConfiguration", "PortalStore", "AgentConfiguration", "DicomPortal",
            .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Tests/DicomPortalTests", swiftSettings: strict),
        // The kiosk's portal destination against a real TusServer behind mutual TLS (PortalAuthority's certificates).
        .testTarget(name: "PortalDeliveryTests", dependencies: [
            "TestSupport", "Delivery", "PortalProtocol", "PortalPKI", "Uploads", "SessionReport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Tests/PortalDeliveryTests", swiftSettings: strict),
        .testTarget(name: "PortalPKITests", dependencies: [
            "TestSupport",
            "PortalPKI",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ], path: "Tests/PortalPKITests", swiftSettings: strict),
        // The console's areas over a temporary PostgreSQL cluster (in-process with HummingbirdTesting, or the real
        // server over HTTPS), with the real peers each needs (aiosmtpd, fido2, Orthanc, a worker).
        .testTarget(name: "PortalConsoleTests", dependencies: [
            "TestSupport", "PortalTestSupport", "PortalConsole", "PortalStore", "PortalProtocol", "PortalPKI", "PortalCore",
            "WebSecurity", "Credentials", "SessionReport", "Analytics", "ATNA", "AuditTrail", "PortalMetrics", "Dashboard",
            // The review's end-to-end test runs a worker in-process; its media helper is dicom-portal itself.
            "PortalWorker", "PortalConfiguration", "IngestPipeline", "AgentConfiguration", "Uploads", "DicomPortal",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], path: "Tests/PortalConsoleTests", swiftSettings: strict),
        // Core on a loopback port over a temporary PostgreSQL cluster; kiosks are AsyncHTTPClient with KioskTLS, and curl.
        .testTarget(name: "PortalCoreTests", dependencies: [
            "TestSupport", "PortalTestSupport", "PortalCore", "PortalStore", "Uploads", "PortalPKI", "PortalProtocol", "SessionReport", "AuditTrail", "Analytics",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/PortalCoreTests", swiftSettings: strict),
    ]
)
