import Foundation
import NIOCore

/// A multipart/related body of Part 10 files, produced piece by piece as the HTTP client pulls it:
/// a large instance is never held whole. The length is known up front (Content-Length).
struct MultipartBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let boundary: String
    let files: [(URL, Int64)]
    let length: Int64
    static let chunk = 1 << 20

    init(files urls: [URL]) throws {
        boundary = "kiosk-agent-" + UUID().uuidString
        files = try urls.map { url in
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber
            return (url, size?.int64Value ?? 0)
        }
        let header = Int64(MultipartBody.partHeader(boundary).utf8.count)
        length = files.reduce(0) { $0 + header + $1.1 + 2 } + Int64("--\(boundary)--\r\n".utf8.count)
    }

    static func partHeader(_ boundary: String) -> String {
        "--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n"
    }

    func makeAsyncIterator() -> Iterator { Iterator(body: self) }

    struct Iterator: AsyncIteratorProtocol {
        let body: MultipartBody
        var index = 0
        var offset: Int64 = -1     // -1: the part header is next
        var source: FileSource?
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            guard index < body.files.count else {
                finished = true
                return ByteBuffer(string: "--\(body.boundary)--\r\n")
            }
            let (url, size) = body.files[index]
            if offset < 0 {
                source = try FileSource(path: url.path)
                offset = 0
                return ByteBuffer(string: MultipartBody.partHeader(body.boundary))
            }
            guard let source, offset < size else {
                // The file must not have changed size since the length was announced.
                if let source, source.count != size { throw MultipartError.changed(url.lastPathComponent) }
                index += 1; offset = -1; self.source = nil
                return ByteBuffer(string: "\r\n")
            }
            let count = Int(Swift.min(Int64(MultipartBody.chunk), size - offset))
            let bytes = try source.read(at: offset, count: count)
            guard bytes.count == count else { throw MultipartError.changed(url.lastPathComponent) }
            offset += Int64(count)
            return ByteBuffer(bytes: bytes)
        }
    }
}

enum MultipartError: Error, CustomStringConvertible {
    case changed(String)
    var description: String {
        switch self {
        case let .changed(name): "\(name) changed size while being sent"
        }
    }
}
