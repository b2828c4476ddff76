import WebSecurity
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PortalProtocol

/// The pages, scripts, styles and message catalogue under `Web/`, read once at start into memory (a few hundred
/// kilobytes): a request names an entry of that table or nothing, so no path from a request ever reaches the file
/// system. Revalidated by ETag, never served stale after an upgrade.
struct StaticFiles: Sendable {
    struct File: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        let etag: String
    }

    let files: [String: File]

    /// Where the pages are when no directory is configured: beside the executable as SwiftPM builds it, else where
    /// scripts/install-portal puts them. (Not `Bundle.module`, which ends the process when its bundle is missing.)
    static var defaultRoots: [URL] {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        let beside = (try? FileManager.default.contentsOfDirectory(atPath: executable.path))?
            .filter { $0.hasSuffix("_PortalEdge.resources") }
            .map { executable.appendingPathComponent($0).appendingPathComponent("Web") } ?? []
        return beside + [URL(fileURLWithPath: "/usr/share/dicom-portal/web")]
    }

    /// Reads every file under `root` (else the first of `defaultRoots` that exists); fails when there is none,
    /// since an edge without its pages serves nothing useful.
    init(root: URL? = nil) throws {
        guard let root = root ?? Self.defaultRoots.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("index.html").path) }) else {
            throw StaticFilesError.missing("no pages found in \(Self.defaultRoots.map(\.path).joined(separator: " or ")); set [edge] web_root")
        }
        var files: [String: File] = [:]
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        let prefix = root.standardizedFileURL.path
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let type = Self.contentTypes[url.pathExtension.lowercased()] else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(prefix.count))
            let data = try Data(contentsOf: url)
            let etag = "\"" + Hex.encode(SHA256.hash(data: data).prefix(12)) + "\""
            files[relative] = File(bytes: ByteBuffer(bytes: data), contentType: type, etag: etag)
        }
        guard files["/index.html"] != nil else { throw StaticFilesError.missing("\(root.path) has no index.html") }
        self.files = files
    }

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8", "json": "application/json; charset=utf-8", "svg": "image/svg+xml",
        "png": "image/png", "ico": "image/x-icon", "txt": "text/plain; charset=utf-8", "webmanifest": "application/manifest+json",
    ]

    func addRoutes(to router: Router<EdgeRequestContext>) {
        router.get("/") { request, _ in serve("/index.html", request) }
        router.get("/:page") { request, context in
            guard let page = context.parameters.get("page"), page.hasSuffix(".html") else { throw APIError.notFound }
            return serve("/" + page, request)
        }
        router.get("/assets/**") { request, _ in serve(request.uri.path, request) }
    }

    private func serve(_ path: String, _ request: Request) -> Response {
        guard let file = files[path] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        var headers: HTTPFields = [.contentType: file.contentType, .eTag: file.etag, .cacheControl: "no-cache"]
        if request.headers[.ifNoneMatch] == file.etag { return Response(status: .notModified, headers: headers) }
        headers[.contentLength] = String(file.bytes.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.bytes))
    }
}

enum StaticFilesError: Error, CustomStringConvertible {
    case missing(String)
    var description: String { switch self { case .missing(let why): "the edge's web pages cannot be loaded: \(why)" } }
}
