/// Turns the path an uploader claimed for a file (`relativePath` or `filename` metadata, any bytes) into a
/// safe relative path under the batch's scratch directory: no absolute paths, no `..`, no control
/// characters, bounded depth and length. The media walk checks names again; this keeps the worker's own
/// writes inside scratch whatever a browser or an attacker sent.
enum MediaNames {
    static let maxDepth = 16
    static let maxComponentBytes = 200

    static func relativePath(_ claimed: String?, fallback: String) -> String {
        guard let claimed else { return fallback }
        var components: [String] = []
        for raw in claimed.split(whereSeparator: { $0 == "/" || $0 == "\\" }) {
            var component = String(raw.unicodeScalars.map { scalar -> Character in
                scalar.value < 0x20 || scalar.value == 0x7F ? "_" : Character(scalar)
            })
            if component == "." || component.isEmpty { continue }
            if component == ".." { component = "_" }
            while component.utf8.count > maxComponentBytes { component.removeLast() }
            components.append(component)
        }
        guard !components.isEmpty else { return fallback }
        if components.count > maxDepth { components = Array(components.suffix(maxDepth)) }
        return components.joined(separator: "/")
    }
}
