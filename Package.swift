// swift-tools-version:6.1
import PackageDescription

// Layout: Sources/<Module> per architecture module (see ../shared/ARCHITECTURE.md §2);
// Sources/CSystem/<C…> are system-library wrappers (module.modulemap + shim.h only).
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "kiosk-agent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kiosk-agent", targets: ["KioskAgent"]),
    ],
    dependencies: [
    ],
    targets: [
        // C libraries (Debian -dev packages installed by scripts/install-deps).
        .systemLibrary(name: "CCdio", path: "Sources/CSystem/CCdio", pkgConfig: "libiso9660"),
        .systemLibrary(name: "CBlkid", path: "Sources/CSystem/CBlkid", pkgConfig: "blkid"),
        .systemLibrary(name: "CUdev", path: "Sources/CSystem/CUdev", pkgConfig: "libudev"),
        .systemLibrary(name: "CClamAV", path: "Sources/CSystem/CClamAV", pkgConfig: "libclamav"),
        .systemLibrary(name: "CNcurses", path: "Sources/CSystem/CNcurses", pkgConfig: "ncursesw"),

        // Pure-Swift DICOM codec: no C, no NIO.
        .target(name: "DICOMCore", swiftSettings: strict),
        // Regenerates Sources/DICOMCore/Dictionary/DataDictionary+Generated.swift from dicom.dic.
        .executableTarget(name: "GenerateDictionary", swiftSettings: strict),

        // Removable media without mounting: probing, ISO9660/UDF (libcdio), FAT/exFAT (Swift), directories.
        .target(name: "MediaReader", dependencies: ["CCdio", "CBlkid"], swiftSettings: strict),

        .executableTarget(name: "KioskAgent", dependencies: ["DICOMCore", "MediaReader"], swiftSettings: strict),

        // Test helpers shared by the test targets: tool runner, pydicom test data, temp dirs.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DICOMCoreTests", dependencies: ["DICOMCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MediaReaderTests", dependencies: ["MediaReader", "TestSupport"], swiftSettings: strict),
    ]
)
