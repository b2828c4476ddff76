import AgentConfiguration
import Delivery
import Foundation

/// Where delivered instances go (ARCHITECTURE.md §3.1).
public enum Destination: Equatable, Sendable, CustomStringConvertible {
    /// The embedded archive at a directory.
    case archive(URL)
    /// DIMSE C-STORE: `dicom://CALLED_AE@HOST:PORT`, `dicoms://` with DICOM TLS.
    case dicom(DICOMAddress)
    /// STOW-RS to `base/studies`: `dicomweb+http://HOST:PORT/PATH`, `dicomweb+https://…`.
    case dicomweb(base: URL, url: String)
    /// The portal core: tus uploads and signed session manifests over mutual TLS, `portal+https://HOST:PORT`
    /// (the `https://HOST:PORT` base, and the URL as given).
    case portal(URL, url: String)

    public struct DICOMAddress: Equatable, Sendable {
        public var calledAE: String
        public var host: String
        public var port: Int
        public var tls: Bool
        public var url: String
    }

    public init(parsing text: String, stateDirectory: StateDirectory) throws {
        if text == "archive:" || text == "archive" {
            self = .archive(stateDirectory.archive)
        } else if text.hasPrefix("archive:") {
            self = .archive(URL(fileURLWithPath: String(text.dropFirst("archive:".count))))
        } else if text.hasPrefix("dicom://") || text.hasPrefix("dicoms://") {
            self = .dicom(try Destination.dicomAddress(text))
        } else if text.hasPrefix("dicomweb+http://") || text.hasPrefix("dicomweb+https://") {
            let http = String(text.dropFirst("dicomweb+".count))
            guard let url = URL(string: http), let host = url.host, !host.isEmpty, url.user == nil, url.password == nil,
                  url.query == nil, url.fragment == nil else {
                throw SetupError("destination '\(text)': expected dicomweb+http(s)://HOST[:PORT]/PATH (credentials belong in [dicomweb], not the URL)")
            }
            self = .dicomweb(base: url, url: text)
        } else if text.hasPrefix("portal+") {
            do { self = .portal(try PortalTarget.baseURL(of: text), url: text) } catch { throw SetupError("\(error)") }
        } else {
            throw SetupError("unknown destination '\(text)': expected archive:PATH, dicom://AE@HOST:PORT, dicoms://AE@HOST:PORT, dicomweb+http(s)://HOST:PORT/PATH or portal+https://HOST:PORT")
        }
    }

    private static func dicomAddress(_ text: String) throws -> DICOMAddress {
        let tls = text.hasPrefix("dicoms://")
        let rest = text.dropFirst(tls ? "dicoms://".count : "dicom://".count)
        let usage = "destination '\(text)': expected \(tls ? "dicoms" : "dicom")://CALLED_AE@HOST:PORT"
        guard let at = rest.lastIndex(of: "@") else { throw SetupError(usage + " (the called AE title is missing)") }
        let title = String(rest[..<at]).removingPercentEncoding ?? ""
        guard AETitle.isValid(title) else { throw SetupError(usage + ": '\(title)' is not an AE title (1-16 characters, no backslash)") }
        var authority = rest[rest.index(after: at)...]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        var host: Substring
        var port: Int?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {        // [IPv6]:PORT
            host = authority[authority.index(after: authority.startIndex)..<close]
            let tail = authority[authority.index(after: close)...]
            if tail.hasPrefix(":") { port = Int(tail.dropFirst()) ?? -1 } else if !tail.isEmpty { port = -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains("/") else { throw SetupError(usage + " (no host)") }
        // Defaults: 104 for DICOM, 2762 for DICOM TLS (PS3.15 Annex B).
        let resolved = port ?? (tls ? 2762 : 104)
        guard (1...65535).contains(resolved) else { throw SetupError(usage + " (bad port)") }
        return DICOMAddress(calledAE: title, host: String(host), port: resolved, tls: tls, url: text)
    }

    /// The key the spool files this destination's instances under (nil for the archive).
    public var spoolKey: String? {
        switch self {
        case .archive: nil
        case let .dicom(address): address.url
        case let .dicomweb(_, url): url
        case let .portal(_, url): url
        }
    }

    public var description: String {
        switch self {
        case let .archive(url): "archive:\(url.path)"
        case let .dicom(address): address.url
        case let .dicomweb(_, url): url
        case let .portal(_, url): url
        }
    }
}
