// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for every parser that reads bytes an attacker may have written. Not part of
// the main build: scripts/fuzz builds this package with `-sanitize=fuzzer,address` and
// `-enable-testing` (so targets reach internal parsers through `@testable import`). Each target
// defines `LLVMFuzzerTestOneInput` and an entry that hands it to libFuzzer's driver, and links only
// the module it fuzzes (one product per module in the main package).
let fuzzer: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"]), .treatAllWarnings(as: .error)]

let package = Package(
    name: "kiosk-agent-fuzz",
    dependencies: [
        .package(name: "kiosk-agent", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "FuzzDICOMReader", dependencies: ["CFuzzerDriver", .product(name: "DICOMCore", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzDICOMDIR", dependencies: ["CFuzzerDriver", .product(name: "DICOMCore", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzMedia", dependencies: ["CFuzzerDriver", .product(name: "MediaReader", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzFAT", dependencies: ["CFuzzerDriver", .product(name: "MediaReader", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzZip", dependencies: ["CFuzzerDriver", .product(name: "MediaReader", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzPDU", dependencies: [
            "CFuzzerDriver", .product(name: "DICOMNetwork", package: "kiosk-agent"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
        ], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzDIMSE", dependencies: [
            "CFuzzerDriver", .product(name: "DICOMNetwork", package: "kiosk-agent"), .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzSTOWResponse", dependencies: ["CFuzzerDriver", .product(name: "Delivery", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzConfig", dependencies: ["CFuzzerDriver", .product(name: "AgentConfiguration", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzHelperFrames", dependencies: ["CFuzzerDriver", .product(name: "HelperProtocol", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzEngineReplies", dependencies: ["CFuzzerDriver", .product(name: "Protector", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzCodestreamEnd", dependencies: ["CFuzzerDriver", .product(name: "DICOMCore", package: "kiosk-agent"), .product(name: "Protector", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzActiveContent", dependencies: ["CFuzzerDriver", .product(name: "Protector", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzEmbeddedSearch", dependencies: ["CFuzzerDriver", .product(name: "FileSignatures", package: "kiosk-agent")], swiftSettings: fuzzer),
        .executableTarget(name: "FuzzWebAuthn", dependencies: ["CFuzzerDriver", .product(name: "WebAuthn", package: "kiosk-agent")], swiftSettings: fuzzer),
    ]
)
