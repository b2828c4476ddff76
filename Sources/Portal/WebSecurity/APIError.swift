import Foundation
import HTTPTypes
import Hummingbird

/// A refusal a browser page shows: a stable code its message catalogue words (`error.<code>`), an English fallback,
/// and, for throttles, when to try again. Never carries patient data or secrets.
public struct APIError: Error, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfter = retryAfter
    }

    public static let signedOut = APIError(.unauthorized, "signed-out", "You are not signed in (or were signed out after a while without activity). Please sign in again.")
    public static let csrf = APIError(.forbidden, "csrf", "This request did not come from the portal's own page. Reload the page and try again.")
    public static let notFound = APIError(.notFound, "not-found", "There is nothing here.")
    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad-request", message) }

    public var response: Response {
        var object: [String: Any] = ["error": code, "message": message]
        if let retryAfter { object["retryAfter"] = retryAfter }
        var response = JSONBody.response(object, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// JSON in and out of the API: small objects, so JSONSerialization; request bodies bounded.
public enum JSONBody {
    public static let limit = 64 << 10

    public static func response(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A Codable value as a JSON object to put inside an answer.
    public static func encoded(_ value: some Encodable) throws -> Any {
        try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value))
    }

    /// The request's JSON object; an empty body is an empty object.
    public static func object(_ request: Request) async throws -> [String: Any] {
        let body = request.body
        let buffer: ByteBuffer
        do { buffer = try await body.collect(upTo: limit) } catch { throw APIError(.contentTooLarge, "bad-request", "The request is too large.") }
        guard buffer.readableBytes > 0 else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError.badRequest("The request is not a JSON object.")
        }
        return object
    }
}

extension Dictionary where Key == String, Value == Any {
    /// A string field, bounded; missing or too long is a clear refusal.
    public func string(_ key: String, max: Int = 1024) throws(APIError) -> String {
        guard let value = self[key] as? String else { throw APIError.badRequest("\"\(key)\" is missing.") }
        guard value.utf8.count <= max else { throw APIError.badRequest("\"\(key)\" is too long.") }
        return value
    }
}
