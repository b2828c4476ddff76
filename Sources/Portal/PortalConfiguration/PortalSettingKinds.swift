import AgentConfiguration
import Foundation

extension SettingKind where Value == String {
    /// `HOST:PORT` or `[IPv6]:PORT`.
    static var hostPort: Self {
        string.checked { text, place in
            guard HostPort(text) != nil else { throw place.error("must be \"HOST:PORT\" (an IPv6 address in brackets), port 1-65535") }
        }
    }

    /// A kiosk destination URL; which schemes are known is checked with the senders (`dicom-portal check`).
    static var destination: Self {
        string.checked { text, place in
            guard !text.isEmpty, !text.contains(" ") else { throw place.error("must be a destination URL (dicom://AE@HOST:PORT, dicomweb+https://…, archive:PATH)") }
        }
    }

    /// `https://HOST[:PORT]`, no path: an origin as browsers send it.
    static var httpsOrigin: Self {
        string.checked { text, place in
            guard let components = URLComponents(string: text), components.scheme == "https", let host = components.host, !host.isEmpty,
                  components.path.isEmpty || components.path == "/", components.query == nil, components.user == nil else {
                throw place.error("must be an https://HOST[:PORT] address without a path, as patients' browsers reach the site")
            }
        }
    }

    /// A name shown to people: 1-120 characters, no control characters.
    static var displayName: Self {
        string.checked { text, place in
            guard !text.isEmpty, text.count <= 120, text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw place.error("must be 1-120 characters without control characters")
            }
        }
    }

    /// A PostgreSQL URL without a password: secrets live in `password_file`, never in the configuration.
    static var postgresURL: Self {
        string.checked { text, place in
            guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
                throw place.error("must be a postgres://USER@HOST:PORT/DATABASE URL")
            }
            guard components.password == nil else {
                throw place.error(detail: "the URL holds a password; put it alone in a file and name that file as database.password_file")
            }
        }
    }
}

extension SettingKind where Value == String {
    /// A DNS name or IP address.
    static var hostName: Self {
        string.checked { text, place in
            guard !text.isEmpty, text.utf8.count <= 253,
                  text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:".unicodeScalars.contains($0)) }) else {
                throw place.error(detail: "\"\(text)\" is not a host name or IP address")
            }
        }
    }

    /// `local@domain`: what an SMTP envelope and a From header can carry without quoting.
    static var emailAddress: Self {
        string.checked { text, place in
            let parts = text.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), text.utf8.count <= 254,
                  text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && !"<>,;\"()[]".unicodeScalars.contains($0) }) else {
                throw place.error(detail: "\"\(text)\" is not an e-mail address")
            }
        }
    }
}

extension SettingKind where Value == [String] {
    /// DNS names or IP addresses for a server certificate: at least one, no wildcards.
    static var serverNames: Self {
        list(of: SettingKind<String>.string.checked { name, place in
            guard !name.isEmpty, name.utf8.count <= 253, !name.contains("*"),
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:".unicodeScalars.contains($0)) }) else {
                throw place.error(detail: "\"\(name)\" is not a host name or IP address")
            }
        }).checked { names, place in
            guard !names.isEmpty else { throw place.error("must name at least one host") }
        }
    }
}
