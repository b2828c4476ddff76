import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PortalProtocol

/// A site's pages, scripts, styles and message catalogue, read once at start into memory (a few hundred kilobytes):
/// a request names an entry of that table or nothing, so no path from a request ever reaches the file system.
/// Revalidated by ETag, never served stale after an upgrade.
public struct StaticFiles<Context: RequestContext>: Sendable {
    struct File: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        let etag: String
    }

    /// Files of another site's folder this one serves too, at the same paths: the browser modules both sites use
    /// (the WebAuthn JSON helpers, the QR encoder) exist once, in the edge's `Web/`.
    public struct Borrowed: Sendable {
        public var roots: [URL]
        public var paths: [String]
        public init(roots: [URL], paths: [String]) { self.roots = roots; self.paths = paths }
    }

    let files: [String: File]

    /// Where a site's pages are when no directory is configured: beside the executable as SwiftPM builds it (the
    /// bundle whose name ends in `bundleSuffix`, e.g. `_PortalEdge.resources`), else `installed`. (Not
    /// `Bundle.module`, which ends the process when its bundle is missing.)
    public static func defaultRoots(bundleSuffix: String, installed: String) -> [URL] {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        let beside = (try? FileManager.default.contentsOfDirectory(atPath: executable.path))?
            .filter { $0.hasSuffix(bundleSuffix) }
            .map { executable.appendingPathComponent($0).appendingPathComponent("Web") } ?? []
        return beside + [URL(fileURLWithPath: installed)]
    }

    /// Reads every file under `root` (else the first of `defaultRoots` that has an index.html), plus `borrowed`;
    /// fails when there is none, since a site without its pages serves nothing useful. `site` and `setting` word the
    /// error ("the edge's web pages", "[edge] web_root").
    public init(root: URL?, defaultRoots: [URL], site: String, setting: String, borrowed: Borrowed? = nil) throws {
        let hasIndex = { (url: URL) in FileManager.default.fileExists(atPath: url.appendingPathComponent("index.html").path) }
        guard let root = root ?? defaultRoots.first(where: hasIndex) else {
            throw StaticFilesError.missing(site, "no pages found in \(defaultRoots.map(\.path).joined(separator: " or ")); set \(setting)")
        }
        var files: [String: File] = [:]
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        let prefix = root.standardizedFileURL.path
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let file = try Self.read(url) else { continue }
            files[String(url.standardizedFileURL.path.dropFirst(prefix.count))] = file
        }
        guard files["/index.html"] != nil else { throw StaticFilesError.missing(site, "\(root.path) has no index.html") }
        if let borrowed {
            guard let other = borrowed.roots.first(where: hasIndex) else {
                throw StaticFilesError.missing(site, "the shared browser modules are in none of \(borrowed.roots.map(\.path).joined(separator: ", "))")
            }
            for path in borrowed.paths {
                guard let file = try Self.read(other.appendingPathComponent(String(path.drop(while: { $0 == "/" })))) else {
                    throw StaticFilesError.missing(site, "\(other.path) has no \(path)")
                }
                files[path] = file
            }
        }
        self.files = files
    }

    private static func read(_ url: URL) throws -> File? {
        guard let type = contentTypes[url.pathExtension.lowercased()], FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data = try Data(contentsOf: url)
        let etag = "\"" + Hex.encode(SHA256.hash(data: data).prefix(12)) + "\""
        return File(bytes: ByteBuffer(bytes: data), contentType: type, etag: etag)
    }

    static var contentTypes: [String: String] {
        [
            "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
            "css": "text/css; charset=utf-8", "json": "application/json; charset=utf-8", "svg": "image/svg+xml",
            "png": "image/png", "ico": "image/x-icon", "txt": "text/plain; charset=utf-8", "webmanifest": "application/manifest+json",
        ]
    }

    public func addRoutes(to router: Router<Context>) {
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

public enum StaticFilesError: Error, CustomStringConvertible {
    case missing(String, String)
    public var description: String { switch self { case .missing(let site, let why): "\(site) cannot be loaded: \(why)" } }
}
