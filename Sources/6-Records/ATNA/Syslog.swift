import Foundation

/// RFC 5424 syslog messages as IHE ATNA sends them: facility 10 (security/authorization), severity
/// 5 (notice), APP-NAME `kiosk-agent`, MSGID `DICOM+RFC3881`, no structured data, and the XML as a
/// UTF-8 MSG with its byte-order mark.
public enum Syslog {
    public static let priority = 10 * 8 + 5
    public static let messageID = "DICOM+RFC3881"

    /// One message: `<85>1 TIMESTAMP HOSTNAME APP-NAME PROCID DICOM+RFC3881 - BOM XML`; APP-NAME `kiosk-agent`, or
    /// `dicom-portal` for the portal's core.
    public static func message(_ xml: String, time: Date, host: String, processID: Int32, appName: String = "kiosk-agent") -> [UInt8] {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let header = "<\(priority)>1 \(format.string(from: time)) \(field(host, 255)) \(field(appName, 48)) \(processID) \(messageID) - "
        return Array(header.utf8) + [0xEF, 0xBB, 0xBF] + Array(xml.utf8)
    }

    /// RFC 5425 §4.3 octet counting: `LENGTH SP MESSAGE`, for the TLS stream.
    public static func octetCounted(_ message: [UInt8]) -> [UInt8] {
        Array("\(message.count) ".utf8) + message
    }

    /// Header fields are printable US-ASCII without spaces, or `-` when empty (RFC 5424 §6).
    static func field(_ text: String, _ limit: Int) -> String {
        let printable = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value > 32 && $0.value < 127 }.prefix(limit)))
        return printable.isEmpty ? "-" : printable
    }
}
