import ArgumentParser
import Foundation

/// Where delivered instances go (ARCHITECTURE.md §3.1).
enum Destination: Equatable, CustomStringConvertible {
    /// The embedded archive at a directory.
    case archive(URL)

    /// Parses `archive:` or `archive:PATH`. The network schemes of the contract (`dicom://`,
    /// `dicoms://`, `dicomweb+http(s)://`) are recognised and refused with a clear message until
    /// the delivery layer that speaks them is part of the build.
    init(parsing text: String, stateDirectory: URL) throws {
        if text == "archive:" || text == "archive" {
            self = .archive(stateDirectory.appendingPathComponent("archive"))
            return
        }
        if text.hasPrefix("archive:") {
            let path = String(text.dropFirst("archive:".count))
            self = .archive(URL(fileURLWithPath: path))
            return
        }
        for scheme in ["dicom://", "dicoms://", "dicomweb+http://", "dicomweb+https://"] where text.hasPrefix(scheme) {
            throw ValidationError("destination \(scheme)… is not supported by this build yet; use archive:PATH")
        }
        throw ValidationError("unknown destination '\(text)': expected archive:PATH")
    }

    var description: String {
        switch self {
        case let .archive(url): "archive:\(url.path)"
        }
    }
}
