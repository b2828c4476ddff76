import HTTPTypes

/// What every answer of both browser sites carries: HSTS, the CSP (no inline script or style, nothing from another
/// origin), no framing, no sniffing, no Referer; API answers (and the edge's uploads) are never cached.
public enum SecurityHeaders {
    public static func apply(to headers: inout HTTPFields, noStore: Bool) {
        headers[.strictTransportSecurity] = "max-age=63072000; includeSubDomains"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "same-origin"
        headers[HTTPField.Name("Permissions-Policy")!] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        if noStore { headers[.cacheControl] = "no-store" }
    }

    public static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "worker-src 'self'", "manifest-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")
}
